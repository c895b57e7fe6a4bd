"""Large reads of a SQLite store in a child process, through a reader that bundles its own SQLite (ADBC).

A process that holds Django's SQLite connection must never load a second SQLite library: when that copy closes
its last connection it believes it is alone, checkpoints and deletes the WAL under Django's feet (sqlite.org,
"How To Corrupt An SQLite Database File", 2.2.1). A separate process that opens the file itself is safe: SQLite's
locks hold between processes. Reading millions of rows that way (ADBC's C reader into Arrow, sent back as an
Arrow IPC stream) takes less than half the time of Python's sqlite3 turning each row into a tuple (1,000,000 order
rows: 0.52 s against 1.06 s); the child's start costs about 0.17 s, so the classification reads a whole table that
way only once the store is big enough.

    frame = read_in_child(path, "SELECT id, customer_id FROM sales_order WHERE status = %s", ["completed"])

The parent side imports Polars and pyarrow's stream reader (no SQLite in either); the child side (``python -m
kehu.lib.sqlite_child``, a JSON request on stdin, the stream on stdout) imports ADBC and pyarrow only, never Django.
"""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import polars as pl


BATCH_ROWS = 65_536   # rows per Arrow batch the child sends (ADBC's default, 1,024, makes 10,000 chunks of 10M rows)


class ChildReadFailed(Exception):
    """The child process could not read (its reader is not installed, or it failed): read in-process instead."""


def read_in_child(path: str, sql: str, params: Sequence[str | int | float | None]) -> pl.DataFrame:
    """The rows of one query (`%s` placeholders, as Django writes them) on the SQLite file at `path`, read by a
    child process; the columns as the reader typed them (integers as Int64, a column of nulls alone as Int64).
    Taken batch by batch as the child sends them (each becomes a chunk of the frame without a copy), so the rows
    are held once. Raises ChildReadFailed, with the child's message, when it could not."""
    import polars as pl
    import pyarrow as pa
    import pyarrow.ipc

    from kehu.lib.db import _qmark

    request = {"path": str(path), "sql": _qmark(sql), "params": list(params)}
    try:
        sent = json.dumps(request).encode()
    except TypeError as error:   # a parameter JSON cannot carry: Django adapts it, in-process
        raise ChildReadFailed(str(error)) from error
    with tempfile.TemporaryFile() as errors:   # a file, not a pipe: a talkative child cannot block on it
        try:
            child = subprocess.Popen([sys.executable, "-m", __name__], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=errors)
        except OSError as error:
            raise ChildReadFailed(str(error)) from error
        with child:
            child.stdin.write(sent)
            child.stdin.close()
            try:
                batches = pa.ipc.open_stream(child.stdout)
                frames = [pl.from_arrow(batch) for batch in batches]
                frames = frames or [pl.from_arrow(batches.schema.empty_table())]
            except pa.ArrowException:
                frames = None   # the child stopped: its message says why
        if child.returncode != 0 or frames is None:
            errors.seek(0)
            raise ChildReadFailed(errors.read().decode(errors="replace").strip()[-2000:])
    return pl.concat(frames)


def _serve_one_read() -> None:
    """The child: one request from stdin, its rows as an Arrow IPC stream on stdout, batch by batch.

    Through ADBC's low-level API: its DB-API module loads pyarrow.dataset and pandas (0.35 s of the child's
    0.5 s start), and pyarrow's `pa.array` imports pandas to look at a list, so the parameters are built from
    their bytes."""
    os.umask(0o077)   # SQLite may create the -shm file if it is missing: private like the store
    request = json.load(sys.stdin)
    import adbc_driver_manager
    import adbc_driver_sqlite
    import pyarrow as pa
    import pyarrow.ipc

    with adbc_driver_sqlite.connect(request["path"]) as database, \
            adbc_driver_manager.AdbcConnection(database) as connection, \
            adbc_driver_manager.AdbcStatement(connection) as statement:
        statement.set_sql_query(request["sql"])
        statement.set_options(**{"adbc.sqlite.query.batch_rows": str(BATCH_ROWS)})
        if params := request["params"]:
            columns = [_parameter(pa, value) for value in params]
            statement.bind(pa.RecordBatch.from_arrays(columns, names=[str(n) for n in range(len(columns))]))
        stream, _ = statement.execute_query()
        batches = pa.RecordBatchReader._import_from_c(stream.address)
        with pa.ipc.new_stream(sys.stdout.buffer, batches.schema) as out:
            for batch in batches:
                out.write_batch(batch)


def _parameter(pa, value: str | int | float | None):
    """A one-value Arrow array of `value` (text, integer, real or null), made from its bytes."""
    if value is None:
        return pa.nulls(1)
    if isinstance(value, int):
        return pa.Array.from_buffers(pa.int64(), 1, [None, pa.py_buffer(struct.pack("<q", value))])
    if isinstance(value, float):
        return pa.Array.from_buffers(pa.float64(), 1, [None, pa.py_buffer(struct.pack("<d", value))])
    text = str(value).encode()
    return pa.Array.from_buffers(pa.string(), 1, [None, pa.py_buffer(struct.pack("<ii", 0, len(text))),
                                                  pa.py_buffer(text)])


if __name__ == "__main__":
    _serve_one_read()
