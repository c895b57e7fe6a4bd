"""The default store survives an ordinary afternoon: analysis pages opened between writes on a live server,
then the database is whole and SQLite's write-ahead log is still the one the server uses."""

import re
from pathlib import Path

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
