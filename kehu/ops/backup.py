"""Backing up and restoring a store.

SQLite: the sqlite3 online backup API, safe while kehu is serving; the copy is one self-contained
file. PostgreSQL: `pg_dump -Fc` and `pg_restore --clean`.

The data key (KEHU_HOME/data.key or KEHU_DATA_KEY) is never in a backup: contact fields are
encrypted with it, so a backup without the key cannot be read. Keep the key somewhere else, safely.

`kehu backup` encrypts the whole file too (`.kehu-backup`): AES-256-GCM in 1 MiB chunks with a key
derived from the data key, so not even the table names can be read without it. Inside, before the
database, sits a manifest (rows per table, checksums of the main tables) taken from the same snapshot;
`kehu backup --verify` restores into a scratch store and compares against it.
"""

import contextlib
import hashlib
import hmac
import json
import os
import secrets
import shutil
import sqlite3
import struct
import subprocess
import tempfile
import time
from pathlib import Path

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.utils import timezone

from kehu.lib.crypto import key_fingerprint
from kehu.lib.processes import process_exists

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


SUFFIX = ".kehu-backup"


def backup_dir() -> Path:
    return settings.KEHU_HOME / "backups"


def default_backup_path(alias: str = DEFAULT_DB_ALIAS) -> Path:
    stamp = timezone.localtime().strftime("%Y%m%d-%H%M%S")
    path = backup_dir() / f"kehu-{stamp}{SUFFIX}"
    n = 1
    while path.exists():  # two backups in one second (a restore's safety copy right after a backup)
        path = backup_dir() / f"kehu-{stamp}-{n}{SUFFIX}"
        n += 1
    return path


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


# -- The data key a backup belongs to ----------------------------------------------------------------

KEY_TABLE = "ops_storekey"


def backup_key_fingerprint(plain: Path | str, alias: str = DEFAULT_DB_ALIAS) -> str | None:
    """The data-key fingerprint recorded inside an opened backup (the ops_storekey row); None if it has none."""
    if is_sqlite(alias):
        conn = sqlite3.connect(f"file:{plain}?mode=ro", uri=True)
        try:
            row = conn.execute(f"SELECT fingerprint FROM {KEY_TABLE} ORDER BY id LIMIT 1").fetchone()
        except sqlite3.OperationalError:  # a backup from before kehu recorded its key
            return None
        finally:
            conn.close()
        return row[0] if row else None
    env, _name = _pg_env_and_name(alias)
    run = subprocess.run([_pg_tool("pg_restore"), "--data-only", f"--table={KEY_TABLE}", "-f", "-", str(plain)],
                         env=env, capture_output=True, text=True)
    lines = iter(run.stdout.splitlines())
    for line in lines:  # COPY public.ops_storekey (id, fingerprint, recorded_at) FROM stdin;
        if line.startswith("COPY ") and f".{KEY_TABLE} (" in line:
            columns = [c.strip() for c in line.split("(", 1)[1].split(")", 1)[0].split(",")]
            first = next(lines, "\\.")
            return None if first == "\\." else first.split("\t")[columns.index("fingerprint")]
    return None


def ensure_same_key(plain: Path | str, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Refuse a backup made under another data key: restored, none of its contact fields could be read."""
    recorded, current = backup_key_fingerprint(plain, alias), key_fingerprint()
    if recorded and recorded != current:
        raise BackupError(
            f"拒绝恢复：这份备份属于另一个数据密钥（指纹 {recorded}），当前数据密钥（{key_location()}）的指纹是 "
            f"{current}。用当前密钥恢复后，手机号、邮箱等联系方式将无法解密。请先换回做备份时的数据密钥再恢复。\n"
            f"Refused: this backup belongs to another data key (fingerprint {recorded}); the current key's "
            f"fingerprint is {current}. Restored under it, no contact field could be decrypted. "
            "Put back the key the backup was made with, then restore."
        )


def key_mismatch() -> str | None:
    """Why this store cannot be served under the current data key (it records another), or None."""
    from kehu.ops.models import StoreKey

    recorded, current = StoreKey.recorded(), key_fingerprint()
    if recorded == current:
        return None
    return (f"数据密钥不符：客户库属于另一个数据密钥（指纹 {recorded}），当前数据密钥（{key_location()}）的指纹是 "
            f"{current}，联系方式将无法解密。请换回原来的数据密钥。\n"
            f"Data key mismatch: the store belongs to another data key (fingerprint {recorded}); the current "
            f"key's fingerprint is {current}, so no contact field could be decrypted. Put back the store's key.")


# -- Encryption: AES-256-GCM in chunks, keyed from the data key -------------------------------------

MAGIC = b"KEHU-BACKUP\x01"
CHUNK = 1 << 20
_HEADER = struct.Struct(">8sB")  # file nonce, payload kind (S = SQLite, P = pg_dump)
_LEN = struct.Struct(">I")


def _backup_key() -> bytes:
    master = hashlib.sha256(settings.KEHU_DATA_KEY.encode()).digest()
    return hmac.new(master, b"kehu-backup-file", hashlib.sha256).digest()


def is_encrypted(path: Path | str) -> bool:
    with Path(path).open("rb") as f:
        return f.read(len(MAGIC)) == MAGIC


def encrypt_file(plain: Path | str, target: Path | str, kind: str, manifest: dict) -> Path:
    """Seal the manifest and the database copy `plain` into `target`, chunk by chunk.

    Each chunk's nonce is the file nonce and the chunk number; the last chunk is marked in the
    authenticated data, so a truncated, reordered or altered file fails to decrypt.
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead, target = AESGCM(_backup_key()), Path(target)
    file_nonce = secrets.token_bytes(8)
    header = MAGIC + _HEADER.pack(file_nonce, ord(kind))
    meta = json.dumps(manifest, ensure_ascii=False).encode()
    partial = target.with_name(target.name + ".part")
    with open(plain, "rb") as src, open(partial, "wb") as out:
        out.write(header)
        pending = _LEN.pack(len(meta)) + meta + src.read(CHUNK)
        number = 0
        while True:
            following = src.read(CHUNK)
            last = not following
            nonce = file_nonce + struct.pack(">I", number)
            sealed = aead.encrypt(nonce, pending, header + (b"L" if last else b"C"))
            out.write(_LEN.pack(len(sealed)) + sealed)
            if last:
                break
            pending, number = following, number + 1
    _private(partial)
    partial.replace(target)
    return target


def decrypt_file(source: Path | str, plain: Path | str) -> tuple[str, dict]:
    """Open an encrypted backup into `plain`; returns (kind, manifest). BackupError if it is not intact."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    aead = AESGCM(_backup_key())
    with open(source, "rb") as src, open(plain, "wb") as out:
        header = src.read(len(MAGIC) + _HEADER.size)
        if not header.startswith(MAGIC) or len(header) < len(MAGIC) + _HEADER.size:
            raise BackupError(f"{source} 不是 kehu 加密备份文件")
        file_nonce, kind = _HEADER.unpack(header[len(MAGIC):])
        manifest, number, last = None, 0, False
        while not last:
            size = src.read(_LEN.size)
            if len(size) < _LEN.size:
                raise BackupError(f"备份文件 {source} 不完整（可能被截断）")
            sealed = src.read(_LEN.unpack(size)[0])
            nonce = file_nonce + struct.pack(">I", number)
            following_is_end = src.peek(1)[:1] == b"" if hasattr(src, "peek") else False
            last = following_is_end
            try:
                chunk = aead.decrypt(nonce, sealed, header + (b"L" if last else b"C"))
            except InvalidTag:
                raise BackupError(_undecryptable(source, number)) from None
            if manifest is None:
                (length,) = _LEN.unpack(chunk[:_LEN.size])
                manifest = json.loads(chunk[_LEN.size:_LEN.size + length])
                chunk = chunk[_LEN.size + length:]
            out.write(chunk)
            number += 1
    Path(plain).chmod(0o600)
    return chr(kind), manifest or {}


def _undecryptable(source: Path | str, number: int) -> str:
    if number:
        return f"无法解密备份文件 {source}：第 {number + 1} 段已损坏。 Cannot decrypt {source}: it is damaged."
    fingerprint = key_fingerprint()
    return (f"无法解密备份文件 {source}：它属于另一个数据密钥（当前密钥 {key_location()} 的指纹是 {fingerprint}），"
            "或文件已损坏。请换回做备份时的数据密钥再恢复。\n"
            f"Cannot decrypt {source}: it belongs to another data key (the current key's fingerprint is "
            f"{fingerprint}), or it is damaged.")


@contextlib.contextmanager
def opened(source: Path | str):
    """The plain database copy inside a backup (decrypted into a private temp dir), and its manifest."""
    source = Path(source)
    if not source.is_file():
        raise BackupError(f"找不到备份文件 {source}")
    if not is_encrypted(source):
        yield source, None  # an unencrypted backup from an older kehu, or `--plain`
        return
    with tempfile.TemporaryDirectory(prefix="kehu-restore-") as tmp:
        plain = Path(tmp) / "store"
        _kind, manifest = decrypt_file(source, plain)
        yield plain, manifest


# -- Manifest: rows per table and checksums, to compare a restored copy with -------------------------

CHECKSUM_TABLES = ("accounts_user", "customers_customer", "sales_order", "sales_orderline")


def _manifest(cursor, tables: list[str]) -> dict:
    counts, sums = {}, {}
    for table in sorted(tables):
        cursor.execute(f'SELECT COUNT(*) FROM "{table}"')
        counts[table] = cursor.fetchone()[0]
        if table in CHECKSUM_TABLES:
            cursor.execute(f'SELECT * FROM "{table}" ORDER BY 1')
            digest = hashlib.sha256()
            for row in cursor.fetchall():
                digest.update(repr(tuple(str(v) for v in row)).encode())
            sums[table] = digest.hexdigest()
    return {"rows": counts, "checksums": sums}


def sqlite_manifest(path: Path | str) -> dict:
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table' "
                                             "AND name NOT LIKE 'sqlite_%'")]
        return _manifest(conn.cursor(), tables)
    finally:
        conn.close()


def _pg_tables(cursor) -> list[str]:
    cursor.execute("SELECT table_name FROM information_schema.tables "
                   "WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
    return [r[0] for r in cursor.fetchall()]


def _pg_connect(alias: str, dbname: str | None = None, **kwargs):
    import psycopg

    params = connections[alias].get_connection_params()
    if dbname:
        params["dbname"] = dbname
    params.pop("cursor_factory", None)
    params.pop("context", None)
    params.pop("server_side_binding", None)
    return psycopg.connect(**params, **kwargs)


def backup_postgres_with_manifest(target: Path | str, alias: str = DEFAULT_DB_ALIAS) -> dict:
    """pg_dump and the manifest from one snapshot: counts are taken in a REPEATABLE READ transaction whose
    snapshot pg_dump shares (--snapshot), so both see exactly the same rows."""
    with _pg_connect(alias) as conn:
        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        snapshot = conn.execute("SELECT pg_export_snapshot()").fetchone()[0]
        with conn.cursor() as cur:
            manifest = _manifest(cur, _pg_tables(cur))
        target = Path(target)
        target.parent.mkdir(parents=True, exist_ok=True)
        env, name = _pg_env_and_name(alias)
        run = subprocess.run([_pg_tool("pg_dump"), "-Fc", "--no-owner", f"--snapshot={snapshot}", "-f",
                              str(target), name], env=env, capture_output=True, text=True)
        conn.rollback()
    if run.returncode:
        target.unlink(missing_ok=True)
        raise BackupError(f"pg_dump 失败：{run.stderr.strip()}")
    _private(target)
    return manifest


# -- Either ----------------------------------------------------------------------------------------


TEMP_PREFIX = ".kehu-backup-"


def sweep_leftovers(folder: Path) -> list[Path]:
    """Delete the work folders of backups that were killed midway (their process is gone); returns them."""
    gone = []
    for path in folder.glob(f"{TEMP_PREFIX}*"):
        pid = path.name[len(TEMP_PREFIX):].split("-", 1)[0]
        if path.is_dir() and not (pid.isdecimal() and process_exists(int(pid))):
            shutil.rmtree(path, ignore_errors=True)
            gone.append(path)
    return gone


def _hold_for_tests() -> None:
    """KEHU_BACKUP_TEST_HOLD=<seconds> pauses a backup with its plain copy written but not yet sealed, so a
    test can kill it at exactly that point (tests/production/test_private_files.py)."""
    if seconds := os.environ.get("KEHU_BACKUP_TEST_HOLD"):
        time.sleep(float(seconds))


def backup(target: Path | str | None = None, alias: str = DEFAULT_DB_ALIAS, *, encrypt: bool = True) -> Path:
    """Back up the store to `target` (default KEHU_HOME/backups/kehu-YYYYmmdd-HHMMSS.kehu-backup).

    encrypt=False writes the bare SQLite file or pg_dump archive, as older kehu versions did.
    """
    target = Path(target) if target else default_backup_path(alias)
    target.parent.mkdir(parents=True, exist_ok=True)
    sweep_leftovers(target.parent)
    # Everything is written inside a 0700 folder of this process and moved into place when complete: a backup
    # killed midway leaves no partial file beside the backups, only that folder, which the next backup sweeps.
    with tempfile.TemporaryDirectory(prefix=f"{TEMP_PREFIX}{os.getpid()}-", dir=target.parent) as tmp:
        plain = Path(tmp) / "store"
        if not encrypt:
            if is_sqlite(alias):
                backup_sqlite(_db(alias)["NAME"], plain)
            else:
                backup_postgres(plain, alias)
        else:
            if is_sqlite(alias):
                backup_sqlite(_db(alias)["NAME"], plain)
                kind, manifest = "S", sqlite_manifest(plain)
            else:
                kind, manifest = "P", backup_postgres_with_manifest(plain, alias)
            _hold_for_tests()
            manifest["made_at"] = timezone.now().isoformat()
            manifest["key_fingerprint"] = key_fingerprint()
            plain = encrypt_file(plain, Path(tmp) / "sealed", kind, manifest)
        _private(plain)
        plain.replace(target)
    _private(target)
    return target


def stored_backups(folder: Path | None = None) -> list[Path]:
    """The backups in KEHU_HOME/backups (kehu-….kehu-backup), oldest first."""
    folder = folder or backup_dir()
    return sorted(folder.glob(f"kehu-*{SUFFIX}"), key=lambda p: (p.stat().st_mtime, p.name))


def prune_backups(keep: int, folder: Path | None = None) -> list[Path]:
    """Delete all but the newest `keep` encrypted backups in KEHU_HOME/backups; returns what went."""
    files = stored_backups(folder)
    doomed = files[:-keep] if keep > 0 else files
    for path in doomed:
        path.unlink(missing_ok=True)
    return doomed


def check_backup(source: Path | str, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Raise BackupError unless `source` is a backup this store can be restored from."""
    with opened(source) as (plain, _manifest):
        if is_sqlite(alias):
            check_sqlite_backup(plain)
        else:
            check_postgres_backup(plain)
        ensure_same_key(plain, alias)


def restore(source: Path | str, alias: str = DEFAULT_DB_ALIAS) -> None:
    """Replace the whole store by the backup `source` (encrypted or not)."""
    with opened(source) as (plain, _manifest):
        ensure_same_key(plain, alias)
        connections[alias].close()
        if is_sqlite(alias):
            restore_sqlite(plain, _db(alias)["NAME"])
        else:
            restore_postgres(plain, alias)
        connections[alias].close()


def verify(source: Path | str, alias: str = DEFAULT_DB_ALIAS) -> dict:
    """Decrypt `source`, restore it into a scratch store and compare with its manifest.

    Returns {"tables": n, "rows": total, "problems": [..]}; problems empty means the backup is good.
    SQLite: a temporary file; PostgreSQL: a scratch database, dropped afterwards.
    """
    with opened(source) as (plain, manifest):
        if manifest is None:
            raise BackupError("这是未加密的旧格式备份，没有可比对的清单；请用 kehu backup 生成新的加密备份")
        if is_sqlite(alias):
            check_sqlite_backup(plain)
            with tempfile.TemporaryDirectory(prefix="kehu-verify-") as tmp:
                scratch = Path(tmp) / "scratch.sqlite3"
                restore_sqlite(plain, scratch)
                found = sqlite_manifest(scratch)
        else:
            found = _verify_postgres(plain, alias)
    problems = []
    for table, rows in manifest["rows"].items():
        if found["rows"].get(table) != rows:
            problems.append(f"表 {table}：备份时 {rows} 行，恢复后 {found['rows'].get(table)} 行")
    for table, digest in manifest["checksums"].items():
        if found["checksums"].get(table) != digest:
            problems.append(f"表 {table} 的校验和不一致")
    return {"tables": len(manifest["rows"]), "rows": sum(manifest["rows"].values()), "problems": problems,
            "made_at": manifest.get("made_at", "")}


def _verify_postgres(dump: Path, alias: str) -> dict:
    from psycopg import sql

    check_postgres_backup(dump)
    env, name = _pg_env_and_name(alias)
    scratch = f"{name}_verify_{secrets.token_hex(3)}"[:63]
    with _pg_connect(alias, dbname="postgres", autocommit=True) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(scratch)))
    try:
        run = subprocess.run([_pg_tool("pg_restore"), "--no-owner", "--exit-on-error", "-d", scratch, str(dump)],
                             env=env, capture_output=True, text=True)
        if run.returncode:
            raise BackupError(f"pg_restore 到临时数据库失败：{run.stderr.strip()}")
        with _pg_connect(alias, dbname=scratch) as conn, conn.cursor() as cur:
            return _manifest(cur, _pg_tables(cur))
    finally:
        with _pg_connect(alias, dbname="postgres", autocommit=True) as admin:
            admin.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(scratch)))
