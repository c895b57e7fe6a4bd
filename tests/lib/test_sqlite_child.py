"""Whole-table reads of a SQLite file by a child process (kehu.lib.sqlite_child): the same rows as Python's
sqlite3 reads, and never a second SQLite library in this process."""

import sqlite3
import sys
from contextlib import closing

import pytest

from kehu.lib.sqlite_child import ChildReadFailed, read_in_child


@pytest.fixture
def store_file(tmp_path):
    path = tmp_path / "store.sqlite3"
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, word TEXT, status TEXT)")
        # the first 3,000 rows without a number: a reader that typed columns from the first rows would fail
        db.executemany("INSERT INTO t (n, word, status) VALUES (?, ?, ?)",
                       [(None if i < 3000 else i * 7, f"词{i % 13}", "completed" if i % 4 else "refunded")
                        for i in range(5000)])
        db.commit()
    return path


def test_it_reads_the_rows_sqlite3_reads_with_parameters_and_percent_signs(store_file):
    sql = "SELECT id, n, n %% 5, word FROM t WHERE status = %s AND id > %s ORDER BY id"
    with closing(sqlite3.connect(store_file)) as db:
        expected = db.execute(sql.replace("%%", "%").replace("%s", "?"), ["completed", 10]).fetchall()
    frame = read_in_child(str(store_file), sql, ["completed", 10])
    assert [tuple(row) for row in frame.iter_rows()] == expected
    assert len(expected) == 3743 and expected[0][1] is None and expected[-1][1] == 4999 * 7
    assert "adbc_driver_sqlite" not in sys.modules


def test_an_empty_result_and_a_column_of_nulls_come_back_as_columns(store_file):
    frame = read_in_child(str(store_file), "SELECT id, n FROM t WHERE word = %s", ["没有"])
    assert frame.height == 0 and frame.width == 2
    nulls = read_in_child(str(store_file), "SELECT n FROM t WHERE id <= %s", [100])
    assert nulls.height == 100 and nulls.to_series().null_count() == 100


def test_a_failed_read_says_why(store_file):
    with pytest.raises(ChildReadFailed, match="no such table"):
        read_in_child(str(store_file), "SELECT x FROM missing", [])


@pytest.mark.django_db
def test_the_pipeline_reads_in_its_own_process_when_the_child_fails(monkeypatch, caplog):
    import polars as pl

    from kehu.customers.models import Customer
    from kehu.segments import pipeline
    from tests.conftest import make_customer

    ids = sorted(make_customer(name=name).pk for name in ("王芳", "李娜"))

    def fail(*args):
        raise ChildReadFailed("No module named 'adbc_driver_sqlite'")

    monkeypatch.setattr(pipeline, "read_in_child", fail)
    frame = pipeline._read_in_child(f"SELECT id FROM {Customer._meta.db_table} ORDER BY id", [],
                                    {"customer_id": pl.Int64})
    assert frame["customer_id"].to_list() == ids
    assert "No module named 'adbc_driver_sqlite'" in caplog.text
