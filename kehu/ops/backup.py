"""Backing up and restoring a store.

SQLite: the sqlite3 online backup API, safe while kehu is serving; the copy is one self-contained
file. PostgreSQL: `pg_dump -Fc` and `pg_restore --clean`.

The data key (KEHU_HOME/data.key or KEHU_DATA_KEY) is never in a backup: contact fields are
encrypted with it, so a backup without the key cannot be read. Keep the key somewhere else, safely.
"""

import os
import shutil
import sqlite3
import subprocess
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

KEY_WARNING = (
    "注意：备份中不含数据密钥。手机号、邮箱、微信号、地址和生日是加密保存的，"
    "恢复时必须使用同一个密钥（{key}）。请把密钥另外妥善保存，不要和备份放在一起。\n"
    "Note: the backup does not contain the data key ({key}); without it the encrypted contact fields "
    "cannot be read. Keep the key safe, apart from the backups."
)


class BackupError(Exception):
    """A backup or restore that cannot be done; the message says why, in Chinese."""


def key_location() -> str:
    if os.environ.get("KEHU_DATA_KEY"):
        return "环境变量 KEHU_DATA_KEY"
    return os.environ.get("KEHU_DATA_KEY_FILE") or str(settings.KEHU_HOME / "data.key")


def _db(alias: str) -> dict:
    return settings.DATABASES[alias]


def is_sqlite(alias: str = DEFAULT_DB_ALIAS) -> bool:
    return _db(alias)["ENGINE"].endswith("sqlite3")


def default_backup_path(alias: str = DEFAULT_DB_ALIAS) -> Path:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    suffix = "sqlite3" if is_sqlite(alias) else "dump"
    return settings.KEHU_HOME / "backups" / f"kehu-{stamp}.{suffix}"


# -- SQLite ----------------------------------------------------------------------------------------


def backup_sqlite(db_path: Path | str, target: Path | str) -> Path:
    """Copy a live SQLite database into `target` (one file, no -wal beside it)."""
    db_path, target = Path(db_path), Path(target)
    if not db_path.exists():
        raise BackupError(f"找不到数据库文件 {db_path}，请先运行 kehu init")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".part")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(db_path)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode=DELETE")  # a single self-contained file
            result = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if result != "ok":
                raise BackupError(f"备份文件校验失败：{result}")
        finally:
            dst.close()
    finally:
        src.close()
    _private(partial)
    partial.replace(target)
    return target


def _private(path: Path) -> None:
    """Backups hold the customer archive: readable by the owner only."""
    path.chmod(0o600)
    if path.parent.name == "backups":
        path.parent.chmod(0o700)


def check_sqlite_backup(path: Path | str) -> None:
    """Refuse a file that is not a kehu SQLite backup."""
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"找不到备份文件 {path}")
    with path.open("rb") as f:
        if f.read(16) != b"SQLite format 3\x00":
            raise BackupError(f"{path} 不是 SQLite 备份文件")
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()
    if not {"django_migrations", "customers_customer"} <= tables:
        raise BackupError(f"{path} 不是 kehu 的备份（缺少客户数据表）")


def restore_sqlite(source: Path | str, db_path: Path | str) -> None:
    """Replace the database at `db_path` by the backup `source`, page by page, in one step."""
    check_sqlite_backup(source)
    db_path = Path(db_path)
    db_path.parent.mkdir(parents=True, exist_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    try:
        dst = sqlite3.connect(db_path, timeout=30)
        try:
            src.backup(dst)
        finally:
            dst.close()
    finally:
        src.close()


# -- PostgreSQL ------------------------------------------------------------------------------------


def _pg_env_and_name(alias: str) -> tuple[dict, str]:
    db = _db(alias)
    env = {**os.environ}
    for key, var in (("HOST", "PGHOST"), ("PORT", "PGPORT"), ("USER", "PGUSER"), ("PASSWORD", "PGPASSWORD")):
        if db.get(key):
            env[var] = str(db[key])
    return env, db["NAME"]


def _pg_tool(name: str) -> str:
    path = shutil.which(name)
    if not path:
        raise BackupError(f"找不到 {name}，请安装 PostgreSQL 客户端工具（如 apt-get install postgresql-client）")
    return path


def backup_postgres(target: Path | str, alias: str = DEFAULT_DB_ALIAS) -> Path:
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    env, name = _pg_env_and_name(alias)
    partial = target.with_name(target.name + ".part")
    run = subprocess.run([_pg_tool("pg_dump"), "-Fc", "--no-owner", "-f", str(partial), name],
                         env=env, capture_output=True, text=True)
    if run.returncode:
        partial.unlink(missing_ok=True)
        raise BackupError(f"pg_dump 失败：{run.stderr.strip()}")
    _private(partial)
    partial.replace(target)
    return target


def check_postgres_backup(path: Path | str) -> None:
    path = Path(path)
    if not path.is_file():
        raise BackupError(f"找不到备份文件 {path}")
    with path.open("rb") as f:
        if f.read(5) != b"PGDMP":
            raise BackupError(f"{path} 不是 pg_dump 备份文件（需要 -Fc 格式）")


def restore_postgres(source: Path | str, alias: str = DEFAULT_DB_ALIAS) -> None:
    check_postgres_backup(source)
    env, name = _pg_env_and_name(alias)
    connections[alias].close()
    run = subprocess.run([_pg_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                          "--exit-on-error", "-d", name, str(source)], env=env, capture_output=True, text=True)
    if run.returncode:
        raise BackupError(f"pg_restore 失败（数据库未改变）：{run.stderr.strip()}")


# -- Either ----------------------------------------------------------------------------------------


def backup(target: Path | str | None = None, alias: str = DEFAULT_DB_ALIAS) -> Path:
    """Back up the store to `target` (default KEHU_HOME/backups/kehu-YYYYmmdd-HHMMSS.*)."""
    target = Path(target) if target else default_backup_path(alias)
    if is_sqlite(alias):
        return backup_sqlite(_db(alias)["NAME"], target)
    return backup_postgres(target, alias)


def check_backup(source: Path | str, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Raise BackupError unless `source` is a backup this store can be restored from."""
    if is_sqlite(alias):
        check_sqlite_backup(source)
    else:
        check_postgres_backup(source)


def restore(source: Path | str, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Replace the whole store by the backup `source`."""
    connections[alias].close()
    if is_sqlite(alias):
        restore_sqlite(source, _db(alias)["NAME"])
    else:
        restore_postgres(source, alias)
    connections[alias].close()
