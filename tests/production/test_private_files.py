"""What a store keeps on disk is for the account that runs kehu only: a fresh store, a serving store, a store made
by an older kehu, an upload in the import wizard, and a backup killed halfway, each checked like `ls -la` would."""

import os
import re
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from .harness import ON_POSTGRES, LiveServer, follow_import, kehu_command


def mode(path: Path) -> int:
    return stat.S_IMODE(path.lstat().st_mode)


def listing(home: Path) -> dict[str, int]:
    """Every folder and file under KEHU_HOME (KEHU_HOME itself as '.') with its permission bits."""
    found = {".": mode(home)}
    for path in sorted(home.rglob("*")):
        found[str(path.relative_to(home))] = mode(path)
    return found


def not_private(home: Path) -> dict[str, str]:
    return {name: f"{bits:04o}" for name, bits in listing(home).items()
            if bits != (0o700 if (home / name).is_dir() else 0o600)}


def test_it_keeps_a_fresh_demo_store_private_while_kehu_serve_writes(ready_store):
    ready_store.kehu("demo", "--customers", "20")
    home = ready_store.home
    assert {"secret.key", "data.key"} <= set(listing(home))
    if not ON_POSTGRES:
        assert "kehu.sqlite3" in listing(home)
    assert not_private(home) == {}
    with LiveServer(ready_store, worker=True) as server:  # the server's processes as a person runs them
        web = server.session()
        answer = web.post("/customers/new/", data={"name": "权限检查", "kind": "person",
                                                  "registered_at": "2024-03-01T10:00"}, allow_redirects=False)
        assert answer.status_code == 302
        if not ON_POSTGRES:
            assert mode(home / "kehu.sqlite3-wal") == 0o600
            assert mode(home / "kehu.sqlite3-shm") == 0o600
        assert not_private(home) == {}


def test_kehu_init_repairs_a_store_readable_by_everyone_and_says_what_it_changed(ready_store):
    home = ready_store.home
    ready_store.kehu("backup")
    (home / "backups").chmod(0o755)
    for path in [*home.glob("*"), *(home / "backups").glob("*")]:
        if path.is_file():
            path.chmod(0o644)
    home.chmod(0o755)
    assert not_private(home)  # the older store really was open

    said = ready_store.kehu("init").stdout

    assert not_private(home) == {}
    assert f"{home} 0755 → 0700" in said
    assert f"{home / 'data.key'} 0644 → 0600" in said
    assert re.search(r"backups/kehu-\S+\.kehu-backup 0644 → 0600", said)
    again = ready_store.kehu("init").stdout
    assert "0644" not in again and "nothing changed" in again


@pytest.mark.worker
def test_an_upload_is_private_in_the_wizard_and_deleted_once_its_import_is_committed(server):
    home = server.store.home
    web = server.session()
    csv = "客户编号,姓名,手机\nUP-1,上传甲,13700001111\nUP-2,上传乙,13700002222\n".encode()
    answer = web.post("/exchange/import/", files={"file": ("会员.csv", csv, "text/csv")},
                      data={"on_duplicate": "update"}, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:500]
    kept = [p for p in (home / "imports").rglob("*") if p.is_file()]
    assert [p.name for p in kept] == ["会员.csv"]
    assert mode(kept[0]) == 0o600
    assert [mode(folder) for folder in (kept[0].parent, kept[0].parent.parent, home / "imports")] == [0o700] * 3

    run = web.post("/exchange/import/mapping/", data={
        "kind-0": "customers", "col-0-0": "code", "col-0-1": "name", "col-0-2": "mobile",
        "on_duplicate": "update", "action": "run"}, allow_redirects=False)
    assert run.status_code == 302
    assert "/exchange/import/progress/" in run.headers["Location"]
    batch_url = follow_import(web, run.headers["Location"])
    assert re.search(r"/exchange/import/\d+/$", batch_url)
    batch = web.get(batch_url).text
    assert "撤销这次导入" in batch

    assert [p for p in (home / "imports").rglob("*") if p.is_file()] == []
    found = web.get("/api/customers", params={"q": "UP-2"}).json()["items"]
    assert [(c["code"], c["name"]) for c in found] == [("UP-2", "上传乙")]


PLAIN_HEADERS = (b"SQLite format 3\x00", b"PGDMP")


def plaintext_files(folder: Path) -> list[Path]:
    """Files under `folder` that are a readable database copy (SQLite file or pg_dump archive)."""
    found = []
    for path in folder.rglob("*"):
        if path.is_file():
            with path.open("rb") as f:
                if f.read(16).startswith(PLAIN_HEADERS):
                    found.append(path)
    return found


def test_a_backup_killed_midway_leaves_no_readable_copy_and_the_next_backup_sweeps_its_folder(ready_store):
    backups = ready_store.home / "backups"
    env = {**ready_store.env, "KEHU_BACKUP_TEST_HOLD": "60"}  # hold with the plain copy written, not yet sealed
    process = subprocess.Popen([kehu_command(), "backup"], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not plaintext_files(backups) and time.monotonic() < deadline:
            assert process.poll() is None, "the backup ended before it could be killed"
            time.sleep(0.05)
        time.sleep(1)  # the copy is complete and its manifest read: the backup waits in its hold
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()

    [work] = backups.glob(".kehu-backup-*")
    plain = plaintext_files(backups)
    assert plain == [work / "store"]  # the one readable copy sits in the work folder…
    assert mode(work) == 0o700 and mode(work / "store") == 0o600  # …which only the owner can open
    assert [p.name for p in backups.iterdir()] == [work.name]  # no partial file beside the backups

    ready_store.kehu("backup")

    assert not work.exists()
    assert plaintext_files(backups) == []
    assert [p.suffix for p in backups.iterdir()] == [".kehu-backup"]
    assert ready_store.kehu("backup", "--verify").returncode == 0
