"""Backups you can trust: encrypted with the data key, verified by restoring into a scratch store, pruned,
and never restored from under a running server."""

import os
import secrets
import subprocess
import sys
import time

import pytest

from kehu.ops.backup import MAGIC, BackupError, decrypt_file, encrypt_file

from .cli import env_for, kehu, postgres_pass_only, sqlite_pass_only, state
from .test_serve import free_port


@sqlite_pass_only
def test_an_encrypted_backup_shows_no_mobile_and_not_even_the_sqlite_header(demo_copy, tmp_path):
    env = demo_copy.env
    mobile = state(env)["first"][0][2]
    made = kehu(env, "backup", "-o", str(tmp_path / "shop.kehu-backup"))
    assert "shop.kehu-backup" in made.stdout
    raw = (tmp_path / "shop.kehu-backup").read_bytes()
    assert raw.startswith(MAGIC)
    assert b"SQLite format 3" not in raw and b"customers_customer" not in raw
    assert mobile.encode() not in raw and mobile[3:].encode() not in raw
    assert oct((tmp_path / "shop.kehu-backup").stat().st_mode & 0o777) == "0o600"


@sqlite_pass_only
def test_backup_then_verify_round_trip_on_sqlite(demo_copy):
    env = demo_copy.env
    kehu(env, "backup")
    verified = kehu(env, "backup", "--verify")
    assert "备份完好" in verified.stdout and "行与备份时一致" in verified.stdout


@sqlite_pass_only
def test_verify_fails_on_a_tampered_file_and_with_another_key(demo_copy, tmp_path):
    env = demo_copy.env
    path = tmp_path / "shop.kehu-backup"
    kehu(env, "backup", "-o", str(path))
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    tampered = tmp_path / "tampered.kehu-backup"
    tampered.write_bytes(bytes(data))
    run = kehu(env, "backup", "--verify", str(tampered), check=False)
    assert run.returncode != 0 and "无法解密" in run.stderr
    truncated = tmp_path / "short.kehu-backup"
    truncated.write_bytes(path.read_bytes()[: len(data) // 2])
    assert kehu(env, "backup", "--verify", str(truncated), check=False).returncode != 0
    another_shop = {**env, "KEHU_DATA_KEY": secrets.token_urlsafe(48)}  # another store's data key
    run = kehu(another_shop, "backup", "--verify", str(path), check=False)
    assert run.returncode != 0 and "密钥" in run.stderr


def test_encryption_round_trips_many_chunks_in_process(tmp_path, settings):
    plain = tmp_path / "plain.bin"
    payload = os.urandom(3 * 1024 * 1024 + 17)
    plain.write_bytes(payload)
    encrypt_file(plain, tmp_path / "x.kehu-backup", "S", {"rows": {"t": 1}, "checksums": {}})
    kind, manifest = decrypt_file(tmp_path / "x.kehu-backup", tmp_path / "back.bin")
    assert (kind, manifest["rows"]) == ("S", {"t": 1})
    assert (tmp_path / "back.bin").read_bytes() == payload
    # the last chunk is marked: dropping it is detected, not mistaken for the end
    sealed = (tmp_path / "x.kehu-backup").read_bytes()
    (tmp_path / "cut.kehu-backup").write_bytes(sealed[: len(sealed) - 1024 * 1024 // 2])
    with pytest.raises(BackupError):
        decrypt_file(tmp_path / "cut.kehu-backup", tmp_path / "cut.bin")


@sqlite_pass_only
def test_it_keeps_only_the_newest_backups(ready_store, tmp_path):
    env = ready_store.env
    folder = ready_store.home / "backups"
    for _ in range(4):
        kehu(env, "backup", "--keep", "2")
    files = sorted(folder.glob("kehu-*.kehu-backup"))
    assert len(files) == 2


def test_help_shows_a_schedulable_line(tmp_path):
    out = kehu(env_for(tmp_path / "home"), "backup", "--help").stdout
    assert "cron" in out and "kehu backup --keep 14" in out


@sqlite_pass_only
def test_restore_refuses_while_the_app_is_serving_unless_forced(ready_store, tmp_path):
    """(Two servers, PostgreSQL and a killed server: tests/production/test_two_servers.py.)"""
    env = ready_store.env
    backup_file = tmp_path / "shop.kehu-backup"
    kehu(env, "backup", "-o", str(backup_file))
    server = subprocess.Popen([sys.executable, "-m", "kehu.cli", "serve", "--port", str(free_port())], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        for _ in range(100):  # until the server has recorded itself in the store
            refused = kehu(env, "restore", str(backup_file), "--yes", check=False)
            if refused.returncode:
                break
            time.sleep(0.2)
        assert "kehu serve 或 kehu worker 正在运行" in refused.stderr and f"进程 {server.pid}" in refused.stderr
        forced = kehu(env, "restore", str(backup_file), "--yes", "--force", "--no-safety-backup")
        assert "已从" in forced.stdout
    finally:
        server.terminate()
        server.wait(timeout=10)
    assert "已从" in kehu(env, "restore", str(backup_file), "--yes", "--no-safety-backup").stdout


@sqlite_pass_only
def test_a_restore_is_audited(ready_store, tmp_path):
    env = ready_store.env
    backup_file = tmp_path / "shop.kehu-backup"
    kehu(env, "backup", "-o", str(backup_file))
    kehu(env, "restore", str(backup_file), "--yes", "--no-safety-backup")
    out = kehu(env, "shell", "-c", "from kehu.accounts.models import AuditEntry;"
               "print(sorted(AuditEntry.objects.values_list('action', flat=True)))").stdout
    assert "'restore'" in out


@postgres_pass_only
def test_backup_then_verify_round_trip_on_postgres(demo_copy, tmp_path):
    import psycopg

    env = demo_copy.env
    before = state(env)
    path = tmp_path / "shop.kehu-backup"
    kehu(env, "backup", "-o", str(path))
    raw = path.read_bytes()
    assert b"PGDMP" not in raw and before["first"][0][2].encode() not in raw
    assert "备份完好" in kehu(env, "backup", "--verify", str(path)).stdout
    kehu(env, "shell", "-c", "from kehu.customers.models import Customer; Customer.objects.all().delete()")
    kehu(env, "restore", str(path), "--yes", "--no-safety-backup")
    assert state(env) == before
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres") as conn:
        left = conn.execute("SELECT datname FROM pg_database WHERE datname LIKE %s",
                            (f"{demo_copy.database_name}_verify_%",)).fetchall()
    assert left == []  # the scratch database is dropped
