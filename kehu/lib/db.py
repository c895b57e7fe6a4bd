"""Writes that must not hold up a read: a bookkeeping write waits only briefly for a busy store.

    with waiting_at_most(0.25):
        ApiToken.objects.filter(pk=pk).update(last_used_at=now)   # OperationalError if still busy

On SQLite a write waits up to `busy_timeout` for another writer (an import chunk, a revert); inside this block it
waits at most the given time. PostgreSQL writers do not wait on each other unless they touch the same rows.
"""

import contextlib

from django.conf import settings
from django.db import connection


@contextlib.contextmanager
def waiting_at_most(seconds: float):
    if connection.vendor != "sqlite":
        yield
        return
    # PRAGMA takes no parameters; both values are integers computed here.
    brief, usual = int(seconds * 1000), int(settings.KEHU_SQLITE_BUSY_TIMEOUT_MS)
    with connection.cursor() as cursor:
        cursor.execute(f"PRAGMA busy_timeout = {brief}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA busy_timeout = {usual}")
