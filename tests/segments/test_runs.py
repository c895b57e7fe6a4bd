"""A classification started from a page is a background job (runs.py): queued for the worker, refused while another
is queued, shown by its status page, marked failed when its worker died, and never half-written."""

import datetime as dt
import os
import subprocess

import pytest
from django.urls import reverse

from kehu.lib.dates import today
from kehu.segments import pipeline, runs
from kehu.segments.models import CustomerSegment, SegmentJob, SegmentRun
from tests.conftest import make_customer, make_order


@pytest.fixture
def shop(db):
    for n, days in enumerate((5, 40, 300)):
        make_order(make_customer(name=f"客户{n}"), "100.00", days_ago=days)


def dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def stored_classes() -> list:
    return list(CustomerSegment.objects.order_by("customer_id").values_list("customer_id", "changed_on", "lifecycle"))


def test_it_queues_the_run_and_refuses_a_second_while_the_first_waits(client, mary, shop, settings,
                                                                     django_capture_on_commit_callbacks):
    from django_tasks_db.models import DBTaskResult

    settings.KEHU_SEGMENT_BACKGROUND = True
    client.force_login(mary)
    with django_capture_on_commit_callbacks(execute=True):
        started = client.post(reverse("segments:recompute"), {"next": reverse("segments:risk")})
    job = SegmentJob.objects.get()
    assert started.status_code == 302
    assert started["Location"].startswith(reverse("segments:run", args=[job.pk.hex]))
    assert [r.args_kwargs["args"] for r in DBTaskResult.objects.all()] == [[str(job.pk)]]
    assert job.status == "queued" and not CustomerSegment.objects.exists()
    assert 'data-status="queued"' in client.get(started["Location"]).content.decode()

    again = client.post(reverse("segments:recompute"), {"next": reverse("segments:risk")}, follow=True)
    assert "另一次客户分层正在后台运行" in again.content.decode()
    assert SegmentJob.objects.count() == 1

    assert runs.run(str(job.pk)) == SegmentRun.objects.get(as_of=today()).pk  # what the worker does
    assert CustomerSegment.objects.count() == 3
    done = client.get(started["Location"], follow=True)
    assert done.redirect_chain[-1][0] == reverse("segments:risk")
    assert "分层已重新计算：3 位客户" in done.content.decode()


def test_a_run_whose_worker_died_is_marked_failed_and_the_last_classes_stay(client, mary, shop):
    pipeline.refresh(today() - dt.timedelta(days=30))
    before = stored_classes()
    gone = SegmentJob.objects.create(status="running", host=pipeline.lease.HOST, pid=dead_pid(), stage="分类")
    alive = SegmentJob.objects.create(status="running", host=pipeline.lease.HOST, pid=os.getpid())
    assert runs.recover_interrupted() == [gone.pk.hex]
    gone.refresh_from_db()
    alive.refresh_from_db()
    assert (gone.status, gone.error, alive.status) == ("failed", runs.INTERRUPTED, "running")
    assert stored_classes() == before
    client.force_login(mary)
    page = client.get(reverse("segments:run", args=[gone.pk.hex])).content.decode()
    assert 'data-status="failed"' in page and "客户分层仍是上次计算的结果" in page


def test_a_run_that_fails_while_writing_leaves_the_last_classes_whole(client, mary, shop, monkeypatch):
    pipeline.refresh(today() - dt.timedelta(days=30))
    before = stored_classes()

    def broken(*args, **kwargs):
        raise RuntimeError("磁盘已满")

    monkeypatch.setattr(SegmentRun.objects, "update_or_create", broken)  # after the class rows are written
    client.force_login(mary)
    page = client.post(reverse("segments:recompute"), {"next": reverse("segments:dashboard")}, follow=True)
    assert "分层计算失败：磁盘已满" in page.content.decode()
    assert SegmentJob.objects.get().status == "failed"
    assert stored_classes() == before  # none of the new day's rows is visible
    assert pipeline.lease.holder(pipeline.JOB) is None
