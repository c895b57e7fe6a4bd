"""kehu backup / kehu restore: a restored store is identical, on SQLite and on PostgreSQL."""

import sqlite3

import pytest

from kehu.ops.backup import BackupError, backup_sqlite, check_backup, check_sqlite_backup, restore_sqlite
from tests.conftest import DEMO_CUSTOMERS

from .cli import MUTATE_SCRIPT, kehu, postgres_pass_only, sqlite_pass_only, state


def round_trip(env: dict, backup_file) -> None:
    before = state(env)
    assert before["counts"]["Customer"] == DEMO_CUSTOMERS and before["counts"]["Communication"] > 0
    assert before["first"][0][2].startswith("+86")  # contact fields decrypt

    made = kehu(env, "backup", "-o", str(backup_file))
    assert backup_file.exists()
    assert "data.key" in made.stdout or "KEHU_DATA_KEY" in made.stdout  # the key warning

    kehu(env, "shell", "-c", MUTATE_SCRIPT)
    changed = state(env)
    assert changed != before
    assert changed["counts"]["Customer"] == 10 and changed["counts"]["Communication"] == 0

    refused = kehu(env, "restore", str(backup_file), check=False)  # no --yes, no terminal
    assert refused.returncode != 0 and "--yes" in refused.stderr
    assert state(env) == changed

    restored = kehu(env, "restore", str(backup_file), "--yes")
    assert "已从" in restored.stdout
    assert state(env) == before


@sqlite_pass_only
def test_it_restores_an_identical_sqlite_store(demo_copy, tmp_path):
    round_trip(demo_copy.env, tmp_path / "shop.sqlite3")
    # the store before the restore was kept, just in case
    safety = list((demo_copy.home / "backups").glob("kehu-*.kehu-backup"))
    assert len(safety) == 1
    assert oct(safety[0].stat().st_mode & 0o777) == "0o600"


@postgres_pass_only
def test_it_restores_an_identical_postgres_store(demo_copy, tmp_path):
    round_trip(demo_copy.env, tmp_path / "shop.dump")


@sqlite_pass_only
def test_it_backs_up_to_the_default_place(ready_store):
    env = ready_store.env
    out = kehu(env, "backup").stdout
    files = list((ready_store.home / "backups").glob("kehu-*.kehu-backup"))
    assert len(files) == 1 and str(files[0]) in out
    assert "备份完好" in kehu(env, "backup", "--verify").stdout


def test_it_copies_a_live_sqlite_database_with_explicit_paths(tmp_path):
    db = tmp_path / "live.sqlite3"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("CREATE TABLE django_migrations (id INTEGER PRIMARY KEY)")
    conn.execute("CREATE TABLE customers_customer (id INTEGER PRIMARY KEY, name TEXT)")
    conn.execute("INSERT INTO customers_customer (name) VALUES ('张伟'), ('李娜')")
    conn.commit()  # still open: the rows live in the -wal file
    copy = backup_sqlite(db, tmp_path / "copy.sqlite3")
    assert not (tmp_path / "copy.sqlite3-wal").exists()  # one self-contained file
    conn.execute("DELETE FROM customers_customer")
    conn.commit()
    conn.close()
    restore_sqlite(copy, db)
    names = [r[0] for r in sqlite3.connect(db).execute("SELECT name FROM customers_customer ORDER BY id")]
    assert names == ["张伟", "李娜"]


def test_it_refuses_a_file_that_is_not_a_backup(tmp_path):
    junk = tmp_path / "notes.txt"
    junk.write_text("这不是备份")
    with pytest.raises(BackupError, match="不是"):
        check_backup(junk)
    other = tmp_path / "other.sqlite3"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(BackupError, match="不是 kehu 的备份"):
        check_sqlite_backup(other)
    with pytest.raises(BackupError, match="找不到"):
        check_sqlite_backup(tmp_path / "missing.sqlite3")
