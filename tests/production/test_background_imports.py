"""Web imports are background tasks in the store's database, run by `kehu worker`: the progress page works from
any server process, a worker killed midway leaves nothing half-written (the job is marked failed and what it
committed is reverted by the next worker), and an import outlives the server it was started on."""

import json
import re
import time

import pytest

from .harness import ON_POSTGRES, LiveServer, Worker, follow_import

COUNTS = ("import json; from kehu.customers.models import Customer; "
          "from kehu.exchange.models import ImportBatch, ImportJob; "
          "print(json.dumps([Customer.objects.count(), list(ImportBatch.objects.values_list('status', flat=True)), "
          "list(ImportJob.objects.values_list('status', flat=True))]))")


def counts(store) -> tuple[int, list[str], list[str]]:
    """Customers, the batches' and the jobs' statuses, read by `kehu shell` (another process)."""
    return tuple(json.loads(store.shell(COUNTS).strip().splitlines()[-1]))


def start_web_import(web, rows: int) -> str:
    """Upload a CSV of `rows` new customers through the wizard and run it; the progress page's URL."""
    csv = "客户编号,姓名,手机\n" + "".join(f"BG-{i},后台{i},137{i:08d}\n" for i in range(rows))
    answer = web.post("/exchange/import/", files={"file": ("后台.csv", csv.encode(), "text/csv")},
                      data={"on_duplicate": "update"}, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:300]
    run = web.post("/exchange/import/mapping/", data={
        "kind-0": "customers", "col-0-0": "code", "col-0-1": "name", "col-0-2": "mobile",
        "on_duplicate": "update", "action": "run"}, allow_redirects=False)
    assert run.status_code == 302 and "/exchange/import/progress/" in run.headers["Location"]
    return run.headers["Location"]


def rows_done(web, progress: str) -> int:
    page = web.get(progress, headers={"HX-Request": "true"}).text
    found = re.search(r"已处理 (\d+) / (\d+) 行", page)
    return int(found.group(1)) if found else 0


def wait_for_rows(web, progress: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if done := rows_done(web, progress):
            return done
        time.sleep(0.1)
    raise AssertionError(f"no progress within {timeout} s")


@pytest.mark.worker
def test_the_worker_beside_kehu_serve_runs_a_web_import(server):
    web = server.session()
    batch = follow_import(web, start_web_import(web, 30))
    assert "撤销这次导入" in web.get(batch).text
    assert counts(server.store) == (30, ["done"], ["done"])


def test_a_worker_killed_midway_leaves_nothing_half_written(ready_store):
    server = LiveServer(ready_store).start()
    worker = Worker(ready_store).start()
    try:
        web = server.session()
        progress = start_web_import(web, 6_000)
        assert wait_for_rows(web, progress) < 6_000
        worker.stop(kill=True)  # SIGKILL mid-import: no handler runs, the committed chunks stay behind
        half, batches, jobs = counts(ready_store)
        assert 0 < half < 6_000 and batches == ["running"] and jobs == ["running"]

        again = Worker(ready_store).start()  # a restart: the new worker finds the job interrupted
        try:
            assert "interrupted import reverted" in again.output()
            page = web.get(progress, headers={"HX-Request": "true"}).text
            assert "导入被中断（后台进程已停止），已写入的部分已撤销，请重新导入" in page
            assert counts(ready_store) == (0, ["reverted"], ["failed"])
            assert list((ready_store.home / "imports").rglob("*.csv")) == []
        finally:
            again.stop()
    finally:
        worker.stop(kill=True)
        server.stop()


@pytest.mark.skipif(not ON_POSTGRES, reason="a team runs several app processes on PostgreSQL; on SQLite one "
                                            "`kehu serve` (with its worker) is the supported setup")
def test_an_import_started_on_one_server_shows_on_another_and_outlives_the_first(ready_store):
    first = LiveServer(ready_store).start()
    second = LiveServer(ready_store).start()
    worker = Worker(ready_store).start()
    try:
        progress = start_web_import(first.session(), 4_000)
        on_second = second.session()
        assert 0 < wait_for_rows(on_second, progress) < 4_000  # the other process shows the job's progress
        first.stop(kill=True)  # midway: the import goes on in the worker
        batch = follow_import(on_second, progress, timeout=120)
        assert "撤销这次导入" in on_second.get(batch).text
        assert counts(ready_store) == (4_000, ["done"], ["done"])
    finally:
        worker.stop()
        first.stop(kill=True)
        second.stop()
