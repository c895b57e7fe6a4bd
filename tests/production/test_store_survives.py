"""The default store survives an ordinary afternoon: analysis pages opened between writes on a live server,
then the database is whole and SQLite's write-ahead log is still the one the server uses."""

import re
from pathlib import Path

import pytest

from .harness import ON_POSTGRES, open_files

ANALYSIS_PAGES = ["/", "/customers/", "/segments/", "/segments/analysis/retention/", "/segments/analysis/trends/",
                  "/segments/analysis/preferences/", "/segments/analysis/regions/", "/customers/health/"]


def test_it_keeps_the_store_whole_while_analysis_pages_are_opened_between_writes(ready_store, tmp_path):
    from .harness import LiveServer

    ready_store.kehu("demo", "--customers", "120", "--seed", "3")
    ready_store.kehu("segment")
    with LiveServer(ready_store) as server:
        web = server.session()
        for n, path in enumerate(ANALYSIS_PAGES * 2):
            assert web.get(path).status_code == 200, path
            answer = web.post("/customers/new/", data={"name": f"写入检查{n}", "province": "广东省", "kind": "person",
                                                       "registered_at": "2026-01-05T10:00"}, allow_redirects=False)
            assert answer.status_code == 302, (path, answer.status_code, answer.text[:300])
            if not ON_POSTGRES:
                deleted = [f for f in open_files(server.pid()) if f.endswith(" (deleted)")]
                assert deleted == [], f"after {path} the server holds deleted files: {deleted}"
                assert (ready_store.home / "kehu.sqlite3-wal").exists(), f"the WAL vanished after {path}"
        mapped = Path(f"/proc/{server.pid()}/maps").read_text()
        libraries = re.findall(r"/[^/\s]*(?:connectorx|adbc|duckdb)[^/\s]*\.so[^/\s]*$", mapped, re.M)
        assert libraries == [], f"a second database library is loaded: {libraries}"
        names = ready_store.shell("from kehu.customers.models import Customer; "
                                  "print(Customer.objects.filter(name__startswith='写入检查').count())")
        assert names.strip().splitlines()[-1] == str(len(ANALYSIS_PAGES) * 2)
    if not ON_POSTGRES:
        assert ready_store.integrity() == "ok"


CLASS_COLUMNS = ("customer_id, frequency, monetary, r_score, f_score, m_score, rfm_class, abc_class, value_tier,"
                 " lifecycle, trend, category_loyalty, p_alive, clv, first_order_day, last_order_day, fingerprint")


@pytest.mark.skipif(ON_POSTGRES, reason="on PostgreSQL every read is a COPY on Django's own connection")
def test_whole_tables_read_by_a_child_process_give_the_same_classes_and_leave_the_store_whole(demo_copy, tmp_path):
    # the threshold lowered to one row, so that the demo store's tables are read by child processes (kehu segment's
    # own process never loads ADBC's SQLite) while a live server holds the store open and writes to it
    other = demo_copy.clone(tmp_path / "other")
    from .harness import LiveServer

    with LiveServer(demo_copy) as server:
        child = demo_copy.kehu("segment", "--full", env={"KEHU_SQLITE_CHILD_READ_ROWS": "1", "KEHU_LOG_LEVEL": "INFO"})
        assert "rows read by a child process" in child.stderr, child.stderr[-2000:]
        assert "failed" not in child.stderr, child.stderr[-2000:]
        web = server.session()
        assert web.get("/segments/").status_code == 200
        answer = web.post("/customers/new/", data={"name": "读后写入", "province": "广东省", "kind": "person",
                                                   "registered_at": "2026-01-05T10:00"}, allow_redirects=False)
        assert answer.status_code == 302, answer.text[:300]
        assert [f for f in open_files(server.pid()) if f.endswith(" (deleted)")] == []
        assert (demo_copy.home / "kehu.sqlite3-wal").exists()
    in_process = other.kehu("segment", "--full", env={"KEHU_SQLITE_CHILD_READ_ROWS": "0", "KEHU_LOG_LEVEL": "INFO"})
    assert "child process" not in in_process.stderr
    sql = f"SELECT {CLASS_COLUMNS} FROM segments_customersegment ORDER BY customer_id"
    by_child, by_self = demo_copy.query(sql), other.query(sql)
    assert len(by_child) > 100 and by_child == by_self
    assert demo_copy.integrity() == "ok"
    written = demo_copy.shell("from kehu.customers.models import Customer; "
                              "print(Customer.objects.filter(name='读后写入').count())")
    assert written.strip().splitlines()[-1] == "1"
