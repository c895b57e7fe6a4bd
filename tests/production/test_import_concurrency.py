"""Other people keep working during a long import: `kehu import` runs as a subprocess while a live server answers
pages and API calls, reads and writes, without one failure; then the import is all there and its revert removes
all of it. A busy store delays a read's side writes (view audit entries, a token's last use) but never fails the
read."""

import re
import sqlite3
import subprocess
import threading
import time

import pytest
import requests
from openpyxl import Workbook

from .harness import ON_POSTGRES, LiveServer, kehu_command

ROWS = 1500


def write_workbook(path):
    wb = Workbook(write_only=True)
    customers = wb.create_sheet("客户信息")
    customers.append(["会员号", "姓名", "手机号", "入会日期"])
    for i in range(ROWS):
        customers.append([f"IMP{i:05d}", f"并发客户{i}", f"135{i:08d}", "2022-03-01"])
    orders = wb.create_sheet("消费记录")
    orders.append(["会员号", "消费日期", "实付金额(元)", "购买商品"])
    for i in range(ROWS):
        orders.append([f"IMP{(i * 7) % ROWS:05d}", f"2024-{i % 12 + 1:02d}-15", 20 + i % 50, "绿茶"])
    wb.save(path)
    return path


def count(store, sql: str, *params) -> int:
    return store.query(sql, *params)[0][0]


IMPORTED_CUSTOMERS = "SELECT COUNT(*) FROM customers_customer WHERE code LIKE 'IMP%'"
IMPORTED_ORDERS = ("SELECT COUNT(*) FROM sales_order JOIN customers_customer c ON c.id = sales_order.customer_id "
                   "WHERE c.code LIKE 'IMP%'")


def work(server, token: str, codes: list[str], stop: threading.Event, outcomes: list, lock: threading.Lock):
    """One person at work: list, customer page, API list, API edit, a communication; every answer kept."""
    web = server.session()
    api = {"Authorization": f"Bearer {token}"}
    n = 0
    while not stop.is_set():
        code = codes[n % len(codes)]
        n += 1
        note = {"comm-occurred_at": time.strftime("%Y-%m-%dT%H:%M"), "comm-method": "phone",
                "comm-content": "导入期间回访"}
        calls = [
            ("list", web.get, ["/customers/"], {}),
            ("customer", web.get, [f"/customers/{code}/"], {}),
            ("api_list", requests.get, [f"{server.url}/api/customers?limit=20"], {"headers": api, "timeout": 60}),
            ("communication", web.post, [f"/engagement/{code}/communications/add/"], {"data": note}),
        ]
        for kind, call, args, kwargs in calls:
            started = time.monotonic()
            expected = 200
            try:
                status = call(*args, **kwargs).status_code
            except requests.RequestException as exc:
                status = repr(exc)
            with lock:
                outcomes.append((kind, status, expected, time.monotonic() - started))
        got = requests.get(f"{server.url}/api/customers/{code}", headers=api, timeout=60)
        status, answer = got.status_code, got.text[:300]
        if status == 200:
            edited = requests.patch(f"{server.url}/api/customers/{code}", headers=api, timeout=60,
                                    json={"version": got.json()["version"], "notes": f"第{n}次修改"})
            status, answer = edited.status_code, edited.text[:300]
        with lock:
            outcomes.append(("edit", status, 200, answer))


def test_it_serves_reads_and_writes_during_kehu_import_and_reverts_the_whole_import(ready_store, tmp_path):
    ready_store.kehu("demo", "--customers", "30", "--seed", "4")
    token = ready_store.kehu("apitoken", "admin").stdout.strip()
    path = write_workbook(tmp_path / "并发导入.xlsx")
    with LiveServer(ready_store) as server:
        listed = requests.get(f"{server.url}/api/customers?limit=30", headers={"Authorization": f"Bearer {token}"},
                              timeout=60).json()["items"]
        codes = [c["code"] for c in listed]
        stop, lock, outcomes = threading.Event(), threading.Lock(), []
        # Each person edits customers of their own, so no edit conflicts with another's (409 is not a failure
        # of the store).
        people = [threading.Thread(target=work, args=(server, token, codes[n::3], stop, outcomes, lock))
                  for n in range(3)]
        importing = subprocess.Popen([kehu_command(), "import", str(path), "--no-progress"], env=ready_store.env,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for person in people:
            person.start()
        output, _ = importing.communicate(timeout=120)
        stop.set()
        for person in people:
            person.join()
    assert importing.returncode == 0, output
    failures = [o for o in outcomes if o[1] != o[2]]
    assert failures == [], f"{len(failures)} of {len(outcomes)} requests failed during the import: {failures[:5]}"
    assert len(outcomes) >= 20, "the load hardly ran while the import did"

    assert count(ready_store, IMPORTED_CUSTOMERS) == ROWS
    assert count(ready_store, IMPORTED_ORDERS) == ROWS
    batch = re.search(r"批次 #(\d+)", output).group(1)
    reverted = ready_store.kehu("import", "--revert", batch)
    assert f"已撤销导入 #{batch}" in reverted.stdout
    assert count(ready_store, IMPORTED_CUSTOMERS) == 0
    assert count(ready_store, IMPORTED_ORDERS) == 0
    assert count(ready_store, "SELECT COUNT(*) FROM customers_customer") == 30


@pytest.mark.skipif(ON_POSTGRES, reason="SQLite's single writer: PostgreSQL writers do not lock out each other")
def test_a_busy_store_delays_a_reads_audit_entry_and_skips_the_token_refresh_but_answers(server, tmp_path):
    store = server.store
    store.kehu("demo", "--customers", "5", "--seed", "4")
    token = store.kehu("apitoken", "admin").stdout.strip()
    web = server.session()
    code = requests.get(f"{server.url}/api/customers?limit=1", headers={"Authorization": f"Bearer {token}"},
                        timeout=60).json()["items"][0]["code"]
    store.shell("import datetime; from kehu.accounts.models import ApiToken; "
                "ApiToken.objects.update(last_used_at=datetime.datetime(2020, 1, 1, tzinfo=datetime.UTC))")
    views = "SELECT COUNT(*) FROM accounts_auditentry WHERE action = 'view' AND target_code = ?"
    assert count(store, views, code) == 0

    holder = sqlite3.connect(store.sqlite_path, isolation_level=None)  # another writer, holding the store
    holder.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        page = web.get(f"/customers/{code}/")
        page_seconds = time.monotonic() - started
        listed = requests.get(f"{server.url}/api/customers", headers={"Authorization": f"Bearer {token}"},
                              timeout=60)
        api_seconds = time.monotonic() - started - page_seconds
        assert count(store, views, code) == 0  # still held: the entry waits for the store
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert page.status_code == 200 and code in page.text
    assert listed.status_code == 200 and listed.json()["items"]
    # Each read waited about READ_WAIT_SECONDS (0.5 s) for its audit entry, not the store's busy_timeout (20 s);
    # the bound leaves room for a machine under load.
    assert page_seconds < 10 and api_seconds < 10, (page_seconds, api_seconds)
    [(last_used,)] = store.query("SELECT last_used_at FROM accounts_apitoken")
    assert str(last_used).startswith("2020-01-01"), "the refresh should have been skipped"
    deadline = time.monotonic() + 15
    while count(store, views, code) != 1:
        assert time.monotonic() < deadline, "the deferred audit entry was never written"
        time.sleep(0.5)
