"""Large reads of a SQLite store in a child process, through a reader that bundles its own SQLite (ADBC).

A process that holds Django's SQLite connection must never load a second SQLite library: when that copy closes
its last connection it believes it is alone, checkpoints and deletes the WAL under Django's feet (sqlite.org,
"How To Corrupt An SQLite Database File", 2.2.1). A separate process that opens the file itself is safe: SQLite's
locks hold between processes. Reading millions of rows that way (ADBC's C reader into Arrow, sent back as an
Arrow IPC stream) takes about a third of the time of Python's sqlite3 turning each row into a tuple, start-up
included, so the classification reads its whole tables so once a store is big enough.

    frame = read_in_child(path, "SELECT id, customer_id FROM sales_order WHERE status = %s", ["completed"])

The parent side imports Polars only; the child side (``python -m kehu.lib.sqlite_child``, a JSON request on
stdin, the stream on stdout) imports ADBC and pyarrow only, never Django.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


class ChildReadFailed(Exception):
    """The child process could not read (its reader is not installed, or it failed): read in-process instead."""


def read_in_child(path: str, sql: str, params: Sequence[str | int | float | None]) -> pl.DataFrame:
    """The rows of one query (`%s` placeholders, as Django writes them) on the SQLite file at `path`, read by a
    child process; the columns as the reader typed them (integers as Int64, a column of nulls alone as Int64).
    Raises ChildReadFailed, with the child's message, when it could not."""
    import polars as pl
    from django.db.backends.sqlite3.base import FORMAT_QMARK_REGEX

    request = {"path": str(path), "sql": FORMAT_QMARK_REGEX.sub("?", sql).replace("%%", "%"), "params": list(params)}
    try:
        done = subprocess.run([sys.executable, "-m", __name__], input=json.dumps(request).encode(),
                              capture_output=True, check=False)
    except OSError as error:
        raise ChildReadFailed(str(error)) from error
    if done.returncode != 0:
        raise ChildReadFailed(done.stderr.decode(errors="replace").strip()[-2000:])
    return pl.read_ipc_stream(done.stdout)


def _serve_one_read() -> None:
    """The child: one request from stdin, its rows as an Arrow IPC stream on stdout, batch by batch."""
    os.umask(0o077)   # SQLite may create the -shm file if it is missing: private like the store
    request = json.load(sys.stdin)
    import adbc_driver_sqlite.dbapi as adbc
    import pyarrow as pa

    with adbc.connect(request["path"]) as connection, connection.cursor() as cursor:
        cursor.execute(request["sql"], request["params"] or None)
        batches = cursor.fetch_record_batch()
        with pa.ipc.new_stream(sys.stdout.buffer, batches.schema) as stream:
            for batch in batches:
                stream.write_batch(batch)


if __name__ == "__main__":
    _serve_one_read()
