"""Two `kehu serve` processes on one store, as a team runs them: what one changes the other shows at once (the
shared cache: the store's own table, or Redis), and `kehu restore` refuses while any server of the store is
alive — told by the database, not by a file one of them wrote."""

import re
import socket
import time

import pytest

from .harness import LiveServer

SETUP = """
from kehu.customers.models import Customer
for i in range(7):
    Customer.objects.create(code=f"NO-{i}", name=f"无主{i}")
"""


def redis_up() -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", 6379)) == 0


def unowned(web) -> int:
    page = web.get("/customers/health/").text
    found = re.search(r'id="finding-unowned".*?<span class="badge">(\d+)</span>', page, re.S)
    return int(found.group(1)) if found else 0


@pytest.mark.parametrize("cache", ["store", "redis"])
def test_an_edit_on_one_server_shows_on_the_other_and_restore_waits_for_both(ready_store, cache):
    if cache == "redis":
        if not redis_up():
            pytest.skip("Redis is not running on 127.0.0.1:6379")
        ready_store.env["KEHU_REDIS_URL"] = "redis://127.0.0.1:6379/15"
    ready_store.shell(SETUP)
    ready_store.kehu("backup", "-o", str(ready_store.home / "before.kehu-backup"))
    first, second = LiveServer(ready_store, worker=True).start(), LiveServer(ready_store, worker=True).start()
    pids = f"进程 {first.pid()}", f"进程 {second.pid()}"
    try:
        a, b = first.session(), second.session()
        assert unowned(b) == unowned(a) == 7  # both have built and cached the health report
        admin_id = ready_store.shell(
            "from django.contrib.auth import get_user_model\n"
            "print(get_user_model().objects.get(username='admin').pk)").strip().splitlines()[-1]
        assert a.post("/customers/health/assign-owner/", data={"owner": admin_id}).status_code == 200
        assert unowned(b) == 0  # the other process does not serve its own stale copy

        refused = ready_store.kehu("restore", str(ready_store.home / "before.kehu-backup"), "--yes", check=False)
        assert refused.returncode != 0
        assert pids[0] in refused.stderr and pids[1] in refused.stderr
        first.stop()
        refused = ready_store.kehu("restore", str(ready_store.home / "before.kehu-backup"), "--yes", check=False)
        assert refused.returncode != 0 and pids[1] in refused.stderr and pids[0] not in refused.stderr
    finally:
        first.stop()
        second.stop(kill=True)  # killed outright: no clean goodbye, its row stays but its process is gone
    # The worker the killed server started is a process of the store too: restore waits until it has seen its
    # server gone and stopped (within seconds).
    deadline = time.monotonic() + 20
    while "kehu worker" in (restored := ready_store.kehu("restore", str(ready_store.home / "before.kehu-backup"),
                                                         "--yes", "--no-safety-backup", check=False)).stderr:
        assert time.monotonic() < deadline, restored.stderr
        time.sleep(0.5)
    assert "Restored" in restored.stdout, restored.stderr
