"""Statements on the store's connection that need more than the ORM gives.

Writes that must not hold up a read: a bookkeeping write waits only briefly for a busy store.

    with waiting_at_most(0.25):
        ApiToken.objects.filter(pk=pk).update(last_used_at=now)   # OperationalError if still busy

On SQLite a write waits up to `busy_timeout` for another writer (an import chunk, a revert); inside this block it
waits at most the given time. PostgreSQL writers do not wait on each other unless they touch the same rows.

Statements run for every order (:func:`run_prepared`): planned once per connection on PostgreSQL.
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


NEVER_BY_ITSELF = 2**31 - 1   # psycopg's count of runs before it prepares a statement unasked


def run_prepared(sql: str, params: list) -> list[tuple]:
    """Run a statement that runs many times with other values (one of the per-order upkeep, say); its rows, if any.

    On PostgreSQL its parameters are bound by the server and the statement is prepared on the connection at its
    first run, so it is not parsed and planned every time (the upkeep's read of one customer: 0.85 → 0.24 ms).
    Django's own cursors bind on the client (the values pasted into the text) and turn psycopg's preparing off.
    Elsewhere the usual cursor. Not for a connection pooler in transaction mode (a prepared statement belongs to
    one server connection): set KEHU_PG_PREPARE=0 there.
    """
    if connection.vendor != "postgresql" or not settings.KEHU_PG_PREPARE:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    import psycopg

    connection.ensure_connection()
    raw = connection.connection
    if raw.prepare_threshold is None:   # Django's "never prepare": this statement only, when asked explicitly
        raw.prepare_threshold = NEVER_BY_ITSELF
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params, prepare=True)
        return cursor.fetchall() if cursor.description else []
