"""Statements on the store's connection that need more than the ORM gives.

Writes that must not hold up a read: a bookkeeping write waits only briefly for a busy store.

    with waiting_at_most(0.25):
        ApiToken.objects.filter(pk=pk).update(last_used_at=now)   # OperationalError if still busy

On SQLite a write waits up to `busy_timeout` for another writer (an import chunk, a revert); inside this block it
waits at most the given time. PostgreSQL writers do not wait on each other unless they touch the same rows.

Statements run for every order (:func:`run_prepared`): planned once per connection on PostgreSQL.
"""

import contextlib
import functools
import io
import selectors
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction


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


def update_by_value(rows, column: str, groups: dict[Any, list[int]], **also: Any) -> None:
    """For each value of `groups` ({value: [pk, …]}): ``rows.filter(pk__in=…).update(column=value, **also)``, 1,000
    ids a statement. One UPDATE per value where bulk_update writes a CASE per row (minutes for 100,000 rows on
    SQLite)."""
    for value, pks in groups.items():
        for start in range(0, len(pks), 1000):
            rows.filter(pk__in=pks[start:start + 1000]).update(**{column: value}, **also)


NEVER_BY_ITSELF = 2**31 - 1   # psycopg's count of runs before it prepares a statement unasked
KEPT_PREPARED = 1000          # statements kept prepared per connection (psycopg keeps 100; evicting the upkeep's
                              # read costs a re-plan)


@functools.lru_cache(maxsize=KEPT_PREPARED)
def _qmark(sql: str) -> str:
    """A statement with `%s` placeholders in SQLite's style, `?`: what Django's SQLite cursor does on every run."""
    from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

    return FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%")


@functools.lru_cache(maxsize=KEPT_PREPARED)
def _numbered(sql: str) -> bytes:
    """A statement with `%s` placeholders in PostgreSQL's style, `$1`, `$2`, …, encoded: for psycopg's raw cursor,
    which takes it as it is. psycopg's own cursor splits the text on every run of a statement longer than 4,096
    characters or with more than 50 parameters (it caches only shorter ones): 0.1–0.2 ms for the upkeep's write."""
    from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

    numbers = iter(range(1, sql.count("%s") + 1))
    return FORMAT_QMARK_REGEX.sub(lambda _: f"${next(numbers)}", sql).replace("%%", "%").encode()


def run_prepared(sql: str, params: list) -> list[tuple]:
    """Run a statement that runs many times with other values (one of the per-order upkeep, say); its rows, if any.

    On PostgreSQL its parameters are bound by the server and the statement is prepared on the connection at its
    first run, so it is not parsed and planned every time (the upkeep's read of one customer: 0.85 → 0.24 ms).
    Django's own cursors bind on the client (the values pasted into the text) and turn psycopg's preparing off.
    Not for a connection pooler in transaction mode (a prepared statement belongs to one server connection): set
    KEHU_PG_PREPARE=0 there. On SQLite the statement goes to Python's sqlite3 with its `%s` turned into `?` once per
    statement, not by Django's cursor on every run (a regular expression over the text: 40–70 µs for the upkeep's
    read); sqlite3 keeps it compiled.
    """
    db = connections[DEFAULT_DB_ALIAS]   # `connection` looks the connection up again at every attribute (~2 µs each)
    if db.vendor == "sqlite":
        db.ensure_connection()
        with db.wrap_database_errors:
            cursor = db.connection.execute(_qmark(sql), params)
            return cursor.fetchall() if cursor.description else []
    if db.vendor != "postgresql" or not settings.KEHU_PG_PREPARE:
        with db.cursor() as cursor:
            cursor.execute(sql, params)
            return cursor.fetchall() if cursor.description else []
    import psycopg

    db.ensure_connection()
    raw = db.connection
    if raw.prepare_threshold is None:   # Django's "never prepare": this statement only, when asked explicitly
        raw.prepare_threshold = NEVER_BY_ITSELF
        raw.prepared_max = KEPT_PREPARED
    query = _numbered(sql)
    with db.wrap_database_errors, psycopg.RawCursor(raw) as cursor:   # Django's errors, as its cursors raise
        if (savepoint := getattr(db, "kehu_owed_savepoint", None)) is not None:
            db.kehu_owed_savepoint = None
            with raw.pipeline():   # the savepoint owed (lazy_savepoint) and this statement: one round trip
                raw.execute(f"SAVEPOINT {savepoint}")
                cursor.execute(query, params, prepare=True)
        else:
            cursor.execute(query, params, prepare=True)
        # rownumber is None without a result set; `description` would build a Column per column (0.15 ms for 60)
        return [] if cursor.rownumber is None else cursor.fetchall()


def recomputable_write(writes: list[str]) -> str:
    """PostgreSQL: data-modifying statements (INSERT, UPDATE, DELETE) of what can be computed again (the classes that
    follow an order, say) as one statement: one round trip, one transaction. Outside a transaction its commit does not
    wait for the log to reach the disk: it sets synchronous_commit off for its own transaction (set_config, local),
    so there is no BEGIN, SET LOCAL and COMMIT to send. A crash can lose only the last moments of such writes, which
    the next computation makes again. Inside a transaction it is committed with it, as the transaction commits."""
    chain = ", ".join(f"write_{i} AS ({sql})" for i, sql in enumerate(writes))
    last = "1" if connection.in_atomic_block else "set_config('synchronous_commit', 'off', true)"
    return f"WITH {chain} SELECT {last}"


@contextlib.contextmanager
def lazy_savepoint(name: str):
    """A savepoint around a block: what the block wrote is undone when it fails, and what came before stands.

    On PostgreSQL the savepoint costs no round trip of its own: it goes with the block's first statement (in one
    pipeline with a :func:`run_prepared` statement, just before any other), is never sent when the block runs none,
    and is not released (the transaction's commit releases it). A savepoint made and released by ``atomic()`` is
    two more round trips, about 0.4 ms of an order's 1.7 ms class upkeep on this machine. Elsewhere it is
    ``atomic()``.
    """
    if connection.vendor != "postgresql" or not connection.in_atomic_block:
        with transaction.atomic():
            yield
        return
    needs_rollback = connection.needs_rollback   # an atomic(savepoint=False) inside that fails sets it
    connection.kehu_owed_savepoint = name
    try:
        with connection.execute_wrapper(_savepoint_first):
            yield
    except BaseException:
        if getattr(connection, "kehu_owed_savepoint", None) is None:   # sent: undo what the block did
            try:
                connection.connection.execute(f"ROLLBACK TO SAVEPOINT {name}")
            except Exception:
                connection.needs_rollback = True   # as atomic() does when it cannot roll back to its savepoint
                raise
        connection.needs_rollback = needs_rollback
        raise
    finally:
        connection.kehu_owed_savepoint = None


def _savepoint_first(execute, sql, params, many, context):
    """Django's statements inside a lazy_savepoint: the savepoint owed goes first."""
    if (savepoint := getattr(connection, "kehu_owed_savepoint", None)) is not None:
        connection.kehu_owed_savepoint = None
        context["connection"].connection.execute(f"SAVEPOINT {savepoint}")
    return execute(sql, params, many, context)


def read_copy(copy, into: io.BytesIO) -> None:
    """Everything a running `COPY … TO STDOUT` (psycopg's Copy, PostgreSQL) sends, into `into`.

    psycopg hands a COPY's output one row per call, each through its wait loop (about 1.5 µs of Python a row). Here
    the rows libpq has already received are taken in a tight loop (PGconn.get_copy_data without blocking) and the
    socket is waited on only when none is left. At 1,000,000 customers on this machine the 9.7M counted orders are
    read in 12.9 s instead of 16.3–16.8 s, with 7.8 s of the client's CPU instead of 16.7–17.0 s (the rest is the
    server's formatting of them); 900,000 metric rows in 0.55–0.74 s instead of 1.05–1.72 s.
    """
    from psycopg import OperationalError, errors, pq

    pgconn = copy.connection.pgconn
    results = []
    # the loop's methods bound once: it runs once per row (millions of times for the orders)
    get_copy_data, write, consume_input = pgconn.get_copy_data, into.write, pgconn.consume_input
    with selectors.DefaultSelector() as socket:   # no limit on the descriptor's number, unlike select.select
        socket.register(pgconn.socket, selectors.EVENT_READ)
        wait = socket.select
        while True:
            size, data = get_copy_data(1)
            if size > 0:
                write(data)
            elif size == 0:   # nothing received yet: wait for the server
                wait()
                consume_input()
            else:             # the end of the data: then the COPY's own result
                break
        while True:
            while pgconn.is_busy():
                socket.select()
                pgconn.consume_input()
            if (result := pgconn.get_result()) is None:
                break
            results.append(result)
    for result in results:
        if result.status != pq.ExecStatus.COMMAND_OK:   # as psycopg raises it: the class of its SQLSTATE
            state = result.error_field(pq.DiagnosticField.SQLSTATE)
            error = errors.lookup(state.decode()) if state else OperationalError
            raise error(result.error_message.decode(errors="replace").strip())


@contextlib.contextmanager
def fresh_copy(table: str):
    """PostgreSQL: replace every row of `table` by filling an empty copy of it, which then takes its place.

        with fresh_copy("segments_customersegment") as new:
            copy_rows_into(new)          # and read them back from `new`, still inside the block

    A DELETE and COPY into a table with many indexes maintains every index row by row and leaves a dead row behind
    for each old one (a million a day for the class table, until VACUUM). The copy has the table's columns, defaults,
    identity (a new sequence: the rows written get new ids) and checks; after the block it is analysed, gets the same
    primary key, foreign keys and indexes (each built once over all rows, under the same names, so migrations still
    find them) and is renamed in place of the table.
    All of it in the caller's transaction: readers see the old rows until it commits, and wait only for the swap.
    A role that does not own the table (migrations run by another) cannot drop it: then the table itself is emptied
    and given to the block.
    """
    new = f"{table}__new"
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_has_role(current_user, relowner, 'USAGE') FROM pg_class WHERE oid = %s::regclass",
                       [table])
        owner = cursor.fetchone()[0]
        if owner:
            cursor.execute(f"DROP TABLE IF EXISTS {new}")
            cursor.execute(f"CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS INCLUDING IDENTITY"
                           " INCLUDING CONSTRAINTS)")
        else:
            cursor.execute(f"DELETE FROM {table}")
    if not owner:
        yield table
        return
    yield new
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")   # each index sorted in memory (default 64 MB)
        cursor.execute(f"ANALYZE {new}")
        cursor.execute("SELECT conname, contype, pg_get_constraintdef(oid) FROM pg_constraint"
                       " WHERE conrelid = %s::regclass AND contype IN ('p', 'u', 'f') ORDER BY contype DESC", [table])
        constraints = cursor.fetchall()
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
                       " AND tablename = %s AND indexname NOT IN"
                       " (SELECT conname FROM pg_constraint WHERE conrelid = %s::regclass)", [table, table])
        indexes = cursor.fetchall()
        renames = []   # index names are unique in the schema: the copy's carry a temporary name until the swap
        for i, (name, kind, definition) in enumerate(constraints):
            temporary = f"{new}_c{i}" if kind in "pu" else name
            cursor.execute(f'ALTER TABLE {new} ADD CONSTRAINT "{temporary}" {definition}')
            if temporary != name:
                renames.append(f'ALTER TABLE {table} RENAME CONSTRAINT "{temporary}" TO "{name}"')
        for i, (name, definition) in enumerate(indexes):
            unique = "UNIQUE " if definition.startswith("CREATE UNIQUE ") else ""
            cursor.execute(f'CREATE {unique}INDEX "{new}_i{i}" ON {new} USING {definition.split(" USING ", 1)[1]}')
            renames.append(f'ALTER INDEX "{new}_i{i}" RENAME TO "{name}"')
        # Rows written to the table earlier in this transaction wait for their deferred foreign-key checks, which
        # forbid dropping it: they are checked now (Django makes every foreign key deferred; so it is again after).
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(f"DROP TABLE {table}")
        cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        cursor.execute(f"ALTER TABLE {new} RENAME TO {table}")
        for sql in renames:
            cursor.execute(sql)


BULK_CACHE_MIB = 256   # SQLite's page cache while a bulk write builds indexes (the default is 2 MiB per connection)


@contextlib.contextmanager
def indexes_built_after(*tables: str):
    """SQLite: the block fills `tables` without their secondary indexes, which are built again after it, each once over
    all rows, with a page cache large enough to sort them. Inserting a million rows into a table with indexes updates
    each index row by row in random key order, through a 2 MiB cache: minutes where this takes seconds. Elsewhere
    (PostgreSQL has :func:`fresh_copy`) the block just runs. Inside a transaction, so readers see the old rows and
    indexes until it commits."""
    if connection.vendor != "sqlite":
        yield
        return
    if not connection.in_atomic_block:
        raise RuntimeError("indexes_built_after needs a transaction: a failed block must leave the indexes in place")
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size")
        cache = int(cursor.fetchone()[0])
        cursor.execute(f"PRAGMA cache_size = {-1024 * BULK_CACHE_MIB}")   # integers only: no parameters in a PRAGMA
        indexes = []
        for table in tables:
            cursor.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = %s"
                           " AND sql IS NOT NULL", [table])   # sql is NULL for a primary key's or UNIQUE's own index
            indexes += cursor.fetchall()
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
    try:
        yield
        with connection.cursor() as cursor:
            for _, sql in indexes:
                cursor.execute(sql)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {cache}")
