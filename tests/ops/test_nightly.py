"""The nightly jobs scheduled inside kehu (nightly.py): due once the local time has passed KEHU_NIGHTLY, queued once a
day whoever asks, every job run and recorded even when one fails, and the last run shown to the admin."""

import datetime as dt
import socket
import subprocess
import zoneinfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from kehu.ops import nightly
from kehu.ops.models import NightlyRun

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int) -> dt.datetime:
    return dt.datetime(2026, 3, 1, hour, minute, tzinfo=SHANGHAI)


def test_it_is_due_from_the_set_time_until_the_day_ends(settings):
    settings.KEHU_NIGHTLY = "02:15"
    assert nightly.due(at(2, 14)) is None
    assert nightly.due(at(2, 15)) == dt.date(2026, 3, 1)
    assert nightly.due(at(23, 59)) == dt.date(2026, 3, 1)  # a laptop switched on late still runs the day's jobs
    assert nightly.due(dt.datetime(2026, 2, 28, 19, 0, tzinfo=dt.UTC)) == dt.date(2026, 3, 1)  # 03:00 in Shanghai


@pytest.mark.parametrize("value", ["off", "", "OFF"])
def test_it_can_be_switched_off(settings, value):
    settings.KEHU_NIGHTLY = value
    assert nightly.scheduled_time() is None and nightly.due(at(23, 0)) is None


def test_a_mistyped_time_is_refused_with_the_setting_named(settings):
    settings.KEHU_NIGHTLY = "2点15"
    with pytest.raises(ImproperlyConfigured, match="KEHU_NIGHTLY"):
        nightly.scheduled_time()


def test_the_day_is_queued_once_whoever_asks(db, settings):
    from django_tasks_db.models import DBTaskResult

    settings.KEHU_NIGHTLY = "02:15"
    assert nightly.schedule(at(1, 0)) is None and not NightlyRun.objects.exists()
    first = nightly.schedule(at(2, 20))
    assert first is not None and first.day == dt.date(2026, 3, 1)
    assert nightly.schedule(at(2, 21)) is None and nightly.schedule(at(9, 0)) is None
    assert [r.args_kwargs["args"] for r in DBTaskResult.objects.all()] == [[str(first.pk)]]


def test_a_store_made_after_the_time_waits_for_its_first_night(db, settings):
    from django.db import connection
    from django.db.migrations.recorder import MigrationRecorder

    settings.KEHU_NIGHTLY = "02:15"
    MigrationRecorder(connection).migration_qs.update(applied=at(15, 0))   # `make demo` on an afternoon
    assert nightly.schedule(at(16, 0)) is None and not NightlyRun.objects.exists()
    tomorrow = at(2, 20) + dt.timedelta(days=1)
    assert nightly.schedule(tomorrow).day == tomorrow.date()
    MigrationRecorder(connection).migration_qs.update(applied=at(1, 0))   # made before the time: caught up that day
    assert nightly.schedule(at(16, 0)).day == dt.date(2026, 3, 1)


def test_every_job_runs_and_is_recorded_when_one_fails(db, monkeypatch):
    ran = []

    def job(name: str, fails: bool = False):
        def step() -> str:
            ran.append(name)
            if fails:
                raise RuntimeError(f"{name} 出错")
            return f"{name} 完成"
        return step

    monkeypatch.setattr(nightly, "STEPS", [("segment", "分层", job("segment")), ("backup", "备份", job("backup", True)),
                                           ("health", "数据质量", job("health"))])
    night = NightlyRun.objects.create(day=dt.date(2026, 3, 1))
    assert nightly.run(str(night.pk)) == "failed"
    assert nightly.run(str(night.pk)) is None  # run once: a second task for the day does nothing
    night.refresh_from_db()
    assert ran == ["segment", "backup", "health"]
    assert [(s["step"], s["ok"], s["summary"]) for s in night.steps] == [
        ("segment", True, "segment 完成"), ("backup", False, "backup 出错"), ("health", True, "health 完成")]


def test_a_run_whose_worker_died_is_marked_failed(db):
    child = subprocess.Popen(["true"])
    child.wait()
    night = NightlyRun.objects.create(day=dt.date(2026, 3, 1), status="running", host=socket.gethostname(),
                                      pid=child.pid)
    assert nightly.recover_interrupted() == [night.day]
    night.refresh_from_db()
    assert (night.status, night.error) == ("failed", nightly.INTERRUPTED)


def test_the_admin_sees_the_last_nightly_run_on_the_backups_page(client, alice, settings, tmp_path):
    settings.KEHU_HOME = tmp_path
    settings.KEHU_NIGHTLY = "02:15"
    client.force_login(alice)
    assert "还没有运行过" in client.get("/settings/system/backups/").content.decode()
    NightlyRun.objects.create(day=dt.date(2026, 3, 1), status="failed", steps=[
        {"step": "segment", "ok": True, "summary": "分层已重新计算：3 位客户", "seconds": 1.5},
        {"step": "backup", "ok": False, "summary": "磁盘已满", "seconds": 0.1}])
    page = client.get("/settings/system/backups/").content.decode()
    assert "每天 02:15（Asia/Shanghai）" in page and "最近一次：2026-03-01，失败" in page
    assert 'data-step="segment" data-ok="1"' in page and 'data-step="backup" data-ok="0"' in page
    assert "磁盘已满" in page and "备份（保留最近 14 份）" in page



def test_the_nightly_classification_rebuilds_the_metrics_from_all_orders_once_a_week(db):
    from django.db.models import F

    from kehu.segments.models import CustomerMetrics, SegmentJob
    from tests.conftest import make_customer, make_order

    wang = make_customer()
    make_order(wang, "100.00", days_ago=3)
    fulls = []
    for _night in range(9):
        # a write that went around the signals: only a rebuild from the orders sees it
        CustomerMetrics.objects.filter(customer=wang).update(frequency=99)
        nightly._segment()
        job = SegmentJob.objects.latest("created_at")
        fulls.append(job.full)
        assert job.status == SegmentJob.Status.DONE
        assert CustomerMetrics.objects.get(customer=wang).frequency == (1 if job.full else 99)
        SegmentJob.objects.update(finished_at=F("finished_at") - dt.timedelta(days=1))   # a day passes
    assert fulls == [True, False, False, False, False, False, False, True, False]
