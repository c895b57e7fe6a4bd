"""Classifications started from a page run on `kehu worker`, the nightly jobs are scheduled inside kehu, and a worker
counts as a process of the store for `kehu restore` — on the production path: live servers and workers as
subprocesses over one store (SQLite file or PostgreSQL)."""

import datetime
import json
import os
import re
import signal
import time
import zoneinfo

from .harness import LiveServer, Worker, follow_run
from .test_segment_runs import classes, start_segment

STATE = ("import json; from kehu.customers.models import Customer; from kehu.segments.models import CustomerSegment, "
         "SegmentJob, SegmentRun; from kehu.ops.models import NightlyRun; "
         "print(json.dumps({'customers': Customer.objects.count(), 'classed': CustomerSegment.objects.count(), "
         "'runs': SegmentRun.objects.count(), 'jobs': list(SegmentJob.objects.values_list('reason', 'status')), "
         "'nights': [[str(n.day), n.status, [s['step'] for s in n.steps if s['ok']]] "
         "for n in NightlyRun.objects.all()]}))")
SHOP = """
import datetime
from decimal import Decimal
from django.utils import timezone
from kehu.customers.models import Customer
from kehu.sales.models import Order
now = timezone.now()
for i in range(24):
    c = Customer.objects.create(code=f"BG-{i}", name=f"客户{i}")
    for k in range(1 + i % 4):
        Order.objects.create(customer=c, number=f"O-{i}-{k}", amount=Decimal(50 + 37 * i + k),
                             ordered_at=now - datetime.timedelta(days=3 + 40 * k + i))
"""


def state(store) -> dict:
    """What the store holds, read by `kehu shell` (another process)."""
    return json.loads(store.shell(STATE).strip().splitlines()[-1])


def shop_day() -> datetime.date:
    """Today in the shop's time zone (the store's default, Asia/Shanghai)."""
    return datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai")).date()


def worker_pid(server: LiveServer) -> int:
    deadline = time.monotonic() + 15
    while not (found := re.search(r"kehu worker, 进程 (\d+)", server.output())):
        assert time.monotonic() < deadline, server.output()
        time.sleep(0.1)
    return int(found.group(1))


def test_the_button_runs_on_the_worker_and_another_server_shows_its_progress(ready_store):
    ready_store.shell(SHOP)
    first, second = LiveServer(ready_store, worker=True).start(), LiveServer(ready_store).start()
    worker = worker_pid(first)
    try:
        a, b = first.session(), second.session()
        os.kill(worker, signal.SIGSTOP)  # the job stays queued while we look
        try:
            started = a.post("/segments/recompute/", data={"next": "/segments/"}, allow_redirects=False)
            assert started.status_code == 302 and "/segments/runs/" in started.headers["Location"]
            status = started.headers["Location"]
            assert 'data-status="queued"' in b.get(status).text  # the other process reads the same row
            again = a.post("/segments/recompute/", data={"next": "/segments/"})
            assert "另一次客户分层正在后台运行" in again.text
            assert state(ready_store)["classed"] == 0
        finally:
            os.kill(worker, signal.SIGCONT)
        back = follow_run(b, status)  # followed on the server that did not start it
        assert back == "/segments/"
        assert "分层已重新计算：24 位客户" in b.get(back).text
        after = state(ready_store)
        assert (after["classed"], after["runs"], after["jobs"]) == (24, 1, [["recompute", "done"]])
        day = shop_day()
        pressed = a.post("/segments/recompute/", data={"next": "/segments/"}, allow_redirects=False)
        back = follow_run(a, pressed.headers["Location"])   # nothing changed since: the day's run stands…
        if shop_day() == day:
            assert "都没有变化，沿用该次结果：24 位客户" in a.get(back).text
            assert state(ready_store)["runs"] == 1
        else:   # …unless the shop's midnight fell in between: a new day's run
            assert "分层已重新计算：24 位客户" in a.get(back).text
            assert state(ready_store)["runs"] == 2
    finally:
        first.stop()
        second.stop()


MADE_LONG_AGO = ("import datetime; from django.db import connection;"
                  " from django.db.migrations.recorder import MigrationRecorder;"
                  " MigrationRecorder(connection).migration_qs.update(applied=datetime.datetime(2026, 1, 1,"
                  " tzinfo=datetime.UTC))")


def test_the_nightly_jobs_run_once_with_two_workers_and_restore_waits_for_the_workers(ready_store):
    ready_store.shell(SHOP)
    ready_store.shell(MADE_LONG_AGO)   # a store made on the day waits for its first night: this one is older
    ready_store.kehu("backup", "-o", str(ready_store.home / "before.kehu-backup"))
    now = datetime.datetime.now(zoneinfo.ZoneInfo("Asia/Shanghai"))
    ready_store.env["KEHU_NIGHTLY"] = f"{now:%H:%M}"  # due now, in the shop's time zone
    workers = [Worker(ready_store, "nightly-a").start(), Worker(ready_store, "nightly-b").start()]
    try:
        deadline = time.monotonic() + 60
        while ready_store.query("SELECT status FROM ops_nightlyrun") in ([], [("queued",)], [("running",)]):
            assert time.monotonic() < deadline, workers[0].output() + workers[1].output()
            time.sleep(0.5)
        nights = state(ready_store)["nights"]
        assert nights == [[f"{now:%Y-%m-%d}", "done", ["segment", "followups", "backup", "health"]]]
        time.sleep(2.5)  # both workers have looked again since: still one run
        after = state(ready_store)
        assert len(after["nights"]) == 1 and after["jobs"] == [["nightly", "done"]] and after["classed"] == 24
        assert len(list((ready_store.home / "backups").glob("*.kehu-backup"))) == 1

        refused = ready_store.kehu("restore", str(ready_store.home / "before.kehu-backup"), "--yes", check=False)
        assert refused.returncode != 0 and "kehu worker" in refused.stderr
        for w in workers:
            assert f"进程 {w.process.pid}" in refused.stderr
    finally:
        for w in workers:
            w.stop()
    restored = ready_store.kehu("restore", str(ready_store.home / "before.kehu-backup"), "--yes",
                                "--no-safety-backup")
    assert "Restored" in restored.stdout


def test_a_run_whose_worker_is_killed_is_marked_failed_and_the_classes_stay(ready_store):
    ready_store.shell(SHOP)
    ready_store.kehu("segment", "--no-progress")
    before = classes(ready_store)
    server = LiveServer(ready_store).start()
    try:
        web = server.session()
        status = web.post("/segments/recompute/", data={"next": "/segments/"}, allow_redirects=False)
        status = status.headers["Location"]  # queued: no worker yet
        command_line = start_segment(ready_store)  # `kehu segment --full`, holding the lease…
        os.kill(command_line.pid, signal.SIGSTOP)  # …and stopped: the queued run will wait for it
        worker = Worker(ready_store).start()
        deadline = time.monotonic() + 30
        while "等待另一次分层结束" not in (page := web.get(status).text):
            assert time.monotonic() < deadline, page[-500:]
            time.sleep(0.2)
        assert 'data-status="running"' in page
        worker.stop(kill=True)  # SIGKILL while running
        next_worker = Worker(ready_store).start()  # finds the run of a dead process at its start
        try:
            page = web.get(status).text
            assert 'data-status="failed"' in page and "客户分层仍是上次计算的结果" in page
            assert classes(ready_store) == before
        finally:
            os.kill(command_line.pid, signal.SIGCONT)
            command_line.communicate(timeout=120)
            next_worker.stop()
        assert command_line.returncode == 0
        assert state(ready_store)["jobs"] == [["recompute", "failed"]]
    finally:
        server.stop()
