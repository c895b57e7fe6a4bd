"""Setting up a store: the database, its schema, the first admin and the default feedback dimensions."""

import os
import secrets
import stat
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
from django.db.migrations.executor import MigrationExecutor
from django.utils.translation import gettext_noop

from kehu.accounts.models import Role
from kehu.engagement.models import FeedbackDimension

DEFAULT_DIMENSIONS = [gettext_noop("产品质量"), gettext_noop("服务态度"), gettext_noop("环境"), gettext_noop("速度")]


def generate_password() -> str:
    """A password that is easy to read out and type: 4 groups of 4, no look-alike characters."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def database_label(alias: str = DEFAULT_DB_ALIAS) -> str:
    """Where the store lives, for messages (never shows a password)."""
    db = settings.DATABASES[alias]
    if db["ENGINE"].endswith("sqlite3"):
        return f"SQLite {db['NAME']}"
    return f"PostgreSQL {db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}/{db['NAME']}"


def ensure_database(alias: str = DEFAULT_DB_ALIAS) -> bool:
    """Create the PostgreSQL database if it does not exist yet. True if it was created.

    SQLite needs nothing: the file appears on first connection (KEHU_HOME exists once keys are made).
    """
    connection = connections[alias]
    if connection.vendor != "postgresql":
        return False
    try:
        connection.ensure_connection()
        return False
    except OperationalError as exc:
        if "does not exist" not in str(exc):
            raise
    import psycopg
    from psycopg import sql

    params = connection.get_connection_params()
    dbname = params.pop("dbname")
    params["dbname"] = "postgres"
    with psycopg.connect(**params, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname)))
    connection.close()
    return True


def pending_migrations(alias: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Migrations not yet applied, as 'app.name' strings (empty when the store is up to date)."""
    executor = MigrationExecutor(connections[alias])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


@dataclass
class InitResult:
    database_created: bool
    migrations_applied: list[str]
    admin_username: str | None  # the admin created now, if one was
    admin_password: str | None  # only when generated here; shown once
    existing_admins: list[str]
    dimensions_created: list[str]
    modes_repaired: list[tuple[Path, int, int]] = field(default_factory=list)  # (path, old mode, new mode)

    @property
    def changed(self) -> bool:
        return bool(self.database_created or self.migrations_applied or self.admin_username
                    or self.dimensions_created or self.modes_repaired)


# What a store keeps on disk holds the customer archive, the session table and the keys: only the account that
# runs kehu may read it. Folders 0700, files 0600 (`kehu` itself runs with umask 077; `kehu init` repairs a
# store made before, or copied in with other modes).
PRIVATE_TREES = ("backups", "imports")
PRIVATE_FILES = ("secret.key", "data.key")


def private_paths(alias: str = DEFAULT_DB_ALIAS) -> list[Path]:
    """KEHU_HOME, the SQLite database with its -wal/-shm/-journal, the keys, and the backup and upload folders."""
    home = Path(settings.KEHU_HOME)
    paths = [home] + [home / name for name in PRIVATE_FILES]
    paths += [Path(os.environ[f"{name}_FILE"]) for name in ("KEHU_SECRET_KEY", "KEHU_DATA_KEY")
              if os.environ.get(f"{name}_FILE")]
    db = settings.DATABASES[alias]
    if db["ENGINE"].endswith("sqlite3"):
        paths += [Path(f"{db['NAME']}{suffix}") for suffix in ("", "-wal", "-shm", "-journal")]
    for tree in PRIVATE_TREES:
        if (home / tree).is_dir():
            paths += [home / tree, *sorted((home / tree).rglob("*"))]
    return [p for p in paths if p.exists() and not p.is_symlink()]


def make_private(alias: str = DEFAULT_DB_ALIAS) -> list[tuple[Path, int, int]]:
    """Give every private path its mode (folders 0700, files 0600); returns what changed as (path, old, new)."""
    changed = []
    for path in private_paths(alias):
        old = stat.S_IMODE(path.stat().st_mode)
        new = 0o700 if path.is_dir() else 0o600
        if old != new:
            path.chmod(new)
            changed.append((path, old, new))
    return changed


def ensure_default_dimensions() -> list[str]:
    """Give a store generic feedback dimensions if it has none at all (a shop edits them later)."""
    if FeedbackDimension.objects.exists():
        return []
    FeedbackDimension.objects.bulk_create(
        FeedbackDimension(name=name, position=i) for i, name in enumerate(DEFAULT_DIMENSIONS, start=1)
    )
    return list(DEFAULT_DIMENSIONS)


def create_admin(username: str, password: str | None) -> tuple[str, str | None]:
    """Create an admin (superuser). Returns the username and the generated password, if one was made."""
    generated = None
    if not password:
        password = generated = generate_password()
    get_user_model().objects.create_user(
        username=username, password=password, role=Role.ADMIN, is_staff=True, is_superuser=True,
    )
    return username, generated


def init_store(username: str = "admin", password: str | None = None) -> InitResult:
    """Create or migrate the store; create the first admin when there is no admin yet. Idempotent."""
    created = ensure_database()
    pending = pending_migrations()
    if pending:
        call_command("migrate", interactive=False, verbosity=0)
    User = get_user_model()
    admins = list(User.objects.filter(role=Role.ADMIN, is_active=True).order_by("id")
                  .values_list("username", flat=True))
    admin_username = admin_password = None
    if not admins:
        if User.objects.filter(username=username).exists():
            raise ValueError(f"用户名 {username} 已被占用，请用 --username 指定另一个管理员用户名")
        admin_username, admin_password = create_admin(username, password)
    dimensions = ensure_default_dimensions()
    return InitResult(created, pending, admin_username, admin_password, admins, dimensions, make_private())
