"""Classification always runs, as a person runs it: `kehu segment` on fresh, empty and odd stores, the two web
buttons, and two `kehu segment` processes at once (the second says that one is running, or waits for it)."""

import os
import re
import signal
import sqlite3
import subprocess
import time

import pytest

from tests.conftest import DEMO_CUSTOMERS

from .harness import ADMIN_PASSWORD, ON_POSTGRES, LiveServer, Store, follow_run, kehu_command

CLASSES = ("customer_id", "rfm_class", "rf_segment", "abc_class", "frequency_tier", "value_tier", "lifecycle",
           "frequency", "monetary")


def classes(store: Store) -> list:
    """Each customer's classes as stored (read in this process, not through a `kehu shell`)."""
    rows = store.query(f"SELECT {', '.join(CLASSES)} FROM segments_customersegment ORDER BY customer_id")
    return [[str(v) for v in row] for row in rows]


def segment(store: Store, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return store.kehu("segment", "--no-progress", *args, check=check)


def lease_holder(store: Store) -> tuple[str, int] | None:
    """(owner, pid) of the classification lease, read straight from the store (None when free)."""
    sql = "SELECT owner, pid FROM segments_runlease WHERE name = 'segment'"
    if ON_POSTGRES:
        import psycopg

        with psycopg.connect(store.database_url.replace("postgres://", "postgresql://")) as db:
            row = db.execute(sql).fetchone()
    else:
        if not store.sqlite_path.exists():
            return None
        with sqlite3.connect(store.sqlite_path, timeout=5) as db:
            try:
                row = db.execute(sql).fetchone()
            except sqlite3.OperationalError:  # not migrated yet
                return None
    return (row[0], row[1]) if row and row[0] else None


def start_segment(store: Store, *args: str) -> subprocess.Popen:
    """`kehu segment --full` in the background, returned once it holds the lease."""
    process = subprocess.Popen([kehu_command(), "segment", "--no-progress", "--full", *args], env=store.env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        holder = lease_holder(store)
        if holder and holder[1] == process.pid:
            return process
        if process.poll() is not None:
            raise AssertionError(f"kehu segment ended before it held the lease:\n{process.communicate()}")
        time.sleep(0.01)
    process.kill()
    raise AssertionError("kehu segment did not take the lease within 60 s")


def form_fields(html: str) -> dict:
    """The values a browser would send for the settings form: its inputs and the selected options."""
    fields = dict(re.findall(r'<input[^>]*?name="([^"]+)"[^>]*?value="([^"]*)"', html))
    for name, options in re.findall(r'<select[^>]*name="([^"]+)"[^>]*>(.*?)</select>', html, re.S):
        chosen = re.search(r'<option value="([^"]*)"[^>]*selected', options)
        fields[name] = chosen.group(1) if chosen else ""
    fields.pop("next", None)
    return fields


@pytest.fixture
def demo_store(demo_copy):
    assert DEMO_CUSTOMERS == 150  # the counts in the messages below
    return demo_copy


@pytest.fixture
def server(demo_store):
    """Here the live server (and the browser page on it) serves the demo store."""
    live = LiveServer(demo_store, worker=True).start()
    yield live
    live.stop()


def test_it_classifies_a_fresh_demo_store_twice_with_and_without_full_like_a_full_rebuild(demo_store):
    outs = [segment(demo_store).stdout, segment(demo_store).stdout]
    got = classes(demo_store)
    assert len(got) == 150
    # `kehu demo` classified the day: runs of that day find nothing changed since, and that run stands
    kept = "Nothing changed since the run at"
    assert all(kept in out and "沿用该次结果" in out for out in outs)
    outs += [segment(demo_store, "--full").stdout, segment(demo_store, "--full").stdout]
    assert all("分层完成" in out for out in outs)
    assert classes(demo_store) == got
    assert kept not in outs[2] + outs[3]   # --full recomputes
    pasts = [segment(demo_store, "--as-of", "2025-06-30").stdout for _ in range(2)]
    assert all("分析日期 As of: 2025-06-30" in out for out in pasts)
    assert kept not in pasts[0] and kept in pasts[1]
    past = classes(demo_store)
    segment(demo_store, "--full", "--as-of", "2025-06-30")
    assert classes(demo_store) == past != got
    assert demo_store.query("SELECT COUNT(*) FROM segments_segmentrun WHERE as_of = '2025-06-30'") == [(1,)]


def test_it_classifies_an_empty_store_and_one_whose_first_customer_never_bought(ready_store):
    for args in ([], ["--full"]):
        out = segment(ready_store, *args)
        assert "客户 Customers: 0" in out.stdout and "分层完成" in out.stdout
    ready_store.shell("from kehu.customers.models import Customer\n"
                      "for i in range(3): Customer.objects.create(name=f'新客{i}', province='广东省')")
    for args in ([], ["--full"]):
        assert "客户 Customers: 3" in segment(ready_store, *args).stdout
    assert {row[1] for row in classes(ready_store)} == {""}  # never bought: no RFM class
    ready_store.shell("import datetime as dt\nfrom decimal import Decimal\n"
                      "from django.utils import timezone\nfrom kehu.customers.models import Customer\n"
                      "for i in range(4):\n"
                      "    c = Customer.objects.create(name=f'老客{i}', province='广东省')\n"
                      "    for d in range(i + 1):\n"
                      "        c.orders.create(amount=Decimal(f'{50 + 30 * d}.25'),"
                      " ordered_at=timezone.now() - dt.timedelta(days=20 * d + 3 * i + 1))")
    segment(ready_store)
    got = classes(ready_store)
    assert len(got) == 7 and got[0][7] == "0" and got[-1][7] == "4"  # the first customer read has no orders
    segment(ready_store, "--full")
    assert classes(ready_store) == got


def test_a_second_process_says_that_a_run_is_going_on_then_runs_after_it(demo_store):
    first = start_segment(demo_store)
    os.kill(first.pid, signal.SIGSTOP)  # hold it mid-run, wherever it is
    try:
        refused = segment(demo_store, check=False)
        waited = segment(demo_store, "--wait", "1", check=False)
    finally:
        os.kill(first.pid, signal.SIGCONT)
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, err
    assert "分层完成" in out
    for answer in (refused, waited):
        assert answer.returncode == 1
        assert "另一次客户分层正在运行" in answer.stderr, answer.stderr
        assert "Another classification is running" in answer.stderr
        assert f"进程 {first.pid}" in answer.stderr
    assert lease_holder(demo_store) is None
    assert "分层完成" in segment(demo_store).stdout


def test_a_second_process_with_wait_runs_when_the_first_ends(demo_store):
    first = start_segment(demo_store)
    second = subprocess.Popen([kehu_command(), "segment", "--no-progress", "--wait", "120"], env=demo_store.env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out1, err1 = first.communicate(timeout=120)
    out2, err2 = second.communicate(timeout=120)
    assert (first.returncode, second.returncode) == (0, 0), err1 + err2
    assert "分层完成" in out1 and "分层完成" in out2


def test_a_killed_run_does_not_block_the_next(demo_store):
    first = start_segment(demo_store)
    first.kill()
    first.wait()
    assert "分层完成" in segment(demo_store).stdout
    assert lease_holder(demo_store) is None
    if not ON_POSTGRES:
        assert demo_store.integrity() == "ok"


def test_both_web_buttons_reclassify_like_a_full_rebuild(demo_store, browser_page):
    page = browser_page
    segment(demo_store, "--as-of", "2025-06-30")   # the latest run is of another day: today's is computed again
    page.goto("/segments/")
    page.get_by_role("button", name="重新计算分层").click()
    page.wait_for_selector(".message-success")
    assert "分层已重新计算：150 位客户" in page.inner_text(".messages, body")
    page.goto("/segments/settings/")
    page.get_by_role("button", name="保存并重新计算").click()
    page.wait_for_selector(".message-success")
    assert "分层已按新阈值重新计算（150 位客户）" in page.inner_text("body")
    got = classes(demo_store)
    segment(demo_store, "--full")
    assert classes(demo_store) == got


def test_the_buttons_say_that_a_run_is_going_on(demo_store):
    with LiveServer(demo_store, worker=True) as server:
        web = server.session("admin", ADMIN_PASSWORD)
        first = start_segment(demo_store)
        os.kill(first.pid, signal.SIGSTOP)
        try:
            button = web.post("/segments/recompute/", data={"next": "/segments/"})
            fields = form_fields(web.get("/segments/settings/").text)
            saved = web.post("/segments/settings/", data={**fields, "recompute": "1"})
            web.cookies.set("django_language", "en")
            english = web.post("/segments/recompute/", data={"next": "/segments/"})
            web.cookies.set("django_language", "zh-hans")
        finally:
            os.kill(first.pid, signal.SIGCONT)
        first.communicate(timeout=120)
        for answer in (button, saved):
            assert answer.status_code == 200, answer.text[:300]
            assert "另一次客户分层正在运行" in answer.text and f"进程 {first.pid}" in answer.text
        assert "设置已保存。" in saved.text
        assert f"Another classification is running (process {first.pid} on" in english.text
        again = web.post("/segments/recompute/", data={"next": "/segments/"}, allow_redirects=False)
        # nothing changed since the run that held the buttons up: it stands
        page = web.get(follow_run(web, again.headers["Location"])).text
        assert page.count("都没有变化，沿用该次结果：150 位客户") == 1
