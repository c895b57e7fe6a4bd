"""From the store to stored classes: orders → metrics → engine → CustomerSegment + SegmentSnapshot.

Tables move in bulk. Rows are read with one SQL query each into Polars on Django's own connection —
on SQLite through Python's sqlite3 (the one SQLite library of the process), on PostgreSQL as a COPY
stream — never through the ORM row by row. The engine (``engine/``) does the
arithmetic. Results go back as differences: only the metrics and class rows that changed are
written (a class row holds nothing that changes by itself from one day to the next; a hash of each row tells
which changed, without reading them back), and the snapshot gets a line for each class row written. When most
class rows change (the value models were fitted again, once a week) the table is replaced in bulk (COPY into a
fresh copy on PostgreSQL; on SQLite without its secondary indexes, which are built again after). Money travels as
integer cents and times as microseconds, so a full rebuild gives exactly the rows the signals keep
current. A run of the latest run's day again keeps that run when nothing it was computed from has changed
(:func:`unchanged_run`).

Each classification also fits the churn and value models (for purchases the one of MBG/NBD and
Pareto/NBD that forecasts the shop's own holdout best, see ``engine/model_check.py``; Gamma-Gamma for
spend, see ``engine/clv.py``) on the maintained metrics and stores per customer P(alive), the
expected purchases in 30/90/365 days, the expected spend per purchase, the 12-month value and the
value at risk; the run keeps the fitted parameters or why they could not be fitted
(:func:`value_model_summary`).
"""

from __future__ import annotations

import datetime
import io
import itertools
import logging
import time
import zoneinfo
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Max, QuerySet
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.lib.db import fresh_copy, indexes_built_after, read_copy
from kehu.lib.sqlite_child import ChildReadFailed, read_in_child
from kehu.sales.models import Category, Order, OrderLine, OrderStatus

from . import lease
from .engine import backends, clv, clv_data, model_check
from .engine import metrics as engine_metrics
from .engine.classify import Thresholds, classify, cutoffs
from .models import (
    CLASS_NAMES,
    CustomerCategorySpend,
    CustomerMetrics,
    CustomerSegment,
    SegmentRun,
    SegmentSettings,
    SegmentSnapshot,
    class_code,
)

if TYPE_CHECKING:
    import polars as pl

log = logging.getLogger(__name__)
Progress = Callable[[str], None]
FETCH_CHUNK = 200_000
WRITE_CHUNK = 50_000
JOB = "segment"    # the lease a classification holds (one run at a time)
BULK_SHARE = 0.5   # replace the whole class table when at least this share of its rows changed


def _noop(stage: str) -> None:
    pass


# --- reading ------------------------------------------------------------------------------------------

def _epoch_us(column: str) -> str:
    """SQL for a timestamp column as integer microseconds since 1970 (UTC).

    On SQLite Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC. SQLite's date functions read the
    fraction to the millisecond and round it, so .9995 s and more would count as the next second: the
    whole seconds are taken back by one when the seconds digits of the text disagree.
    """
    if connection.vendor != "sqlite":
        return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"
    seconds = f"unixepoch({column})" if connection.Database.sqlite_version_info >= (3, 38) \
        else f"CAST(strftime('%%s', {column}) AS INTEGER)"
    micros = f"CAST(substr({column} || '000000', 21, 6) AS INTEGER)"
    rounded_up = (f"CASE WHEN {micros} >= 999000 AND ({seconds} %% 60 + 60) %% 60"
                  f" != CAST(substr({column}, 18, 2) AS INTEGER) THEN 1000000 ELSE 0 END")
    return f"({seconds} * 1000000 + {micros} - {rounded_up})"


def _cents(column: str) -> str:
    """SQL for a decimal(…, 2) column as integer cents (SQLite keeps decimals as REAL)."""
    if connection.vendor == "sqlite":
        return f"CAST(ROUND({column} * 100) AS INTEGER)"
    return f"CAST({column} * 100 AS BIGINT)"


def _fetch(sql: str, params: Sequence, schema: dict[str, pl.DataType], *, scans: str | None = None) -> pl.DataFrame:
    """Rows of one query `SELECT a, b, … FROM …` as a frame with `schema` (its names in select order).

    Read on Django's own connection: inside a transaction its rows are seen, and on SQLite through the
    one SQLite library of the process (Python's sqlite3, never a second copy). Timestamp columns
    (pl.Datetime in `schema`, each a column or an expression without parameters: it is repeated in the
    SQL) travel as integer microseconds and come back as UTC instants; decimals
    are selected as integer cents by the caller. The types come from `schema`, never from the rows.
    A read that goes through the whole of table `scans` on a SQLite file with at least
    settings.KEHU_SQLITE_CHILD_READ_ROWS rows, outside a transaction (nothing uncommitted to see), is made by a
    child process (kehu.lib.sqlite_child): the same rows, in less than half the time.
    """
    import polars as pl

    times = [name for name, dtype in schema.items() if dtype == pl.Datetime]
    raw = {name: pl.Int64 if name in times else dtype for name, dtype in schema.items()}
    sql = _select_as(sql, list(schema), times)
    if connection.vendor == "postgresql":
        read = _copy_out
    elif scans is not None and _worth_a_child(scans):
        read = _read_in_child
    else:
        read = _fetch_rows
    frame = read(sql, list(params), raw)
    return frame.with_columns(pl.from_epoch(name, time_unit="us").dt.replace_time_zone("UTC") for name in times)


def _worth_a_child(table: str) -> bool:
    """Whether a read through the whole of `table` is made by a child process (see _fetch)."""
    least = settings.KEHU_SQLITE_CHILD_READ_ROWS
    if not least or connection.in_atomic_block or connection.is_in_memory_db():
        return False
    with connection.cursor() as cursor:   # the largest rowid: at most the rows, without counting them
        cursor.execute(f"SELECT max(rowid) FROM {table}")
        return (cursor.fetchone()[0] or 0) >= least


def _read_in_child(sql: str, params: list, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows read by a child process (kehu.lib.sqlite_child); in-process when it cannot (said in the log)."""
    started = time.perf_counter()
    try:
        frame = read_in_child(connection.settings_dict["NAME"], sql, params)
    except ChildReadFailed as error:
        log.warning("reading in a child process failed, reading in this one: %s", error)
        return _fetch_rows(sql, params, schema)
    log.info("%d rows read by a child process in %.2f s", frame.height, time.perf_counter() - started)
    return frame.rename(dict(zip(frame.columns, schema, strict=True))).cast(schema)


def _fetch_rows(sql: str, params: list, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows through the DB-API cursor, FETCH_CHUNK at a time, into Polars."""
    import polars as pl

    frames = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_CHUNK):
            frames.append(pl.DataFrame(rows, schema=schema, orient="row", strict=False))
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _copy_out(sql: str, params: list, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """The rows as one `COPY (…) TO STDOUT` CSV stream (psycopg binds the parameters), parsed by Polars."""
    import polars as pl

    buffer = io.BytesIO()
    statement = f"COPY ({sql}) TO STDOUT (FORMAT csv, FORCE_QUOTE *)"
    if not params:  # without parameters psycopg leaves %% as it is
        statement = statement.replace("%%", "%")
    with connection.cursor() as cursor, cursor.cursor.copy(statement, params or None) as copy:
        read_copy(copy, buffer)
    buffer.seek(0)  # every value quoted ('' as ""), NULL as nothing: Polars reads an unquoted empty field as null
    return pl.read_csv(buffer, has_header=False, schema=schema, raise_if_empty=False)


def _select_as(sql: str, names: list[str], times: list[str]) -> str:
    """`SELECT a, b, … FROM` with every item named as in `names`, the `times` ones as epoch microseconds."""
    head, rest = sql.split(" FROM ", 1)
    items = _split_select(head.removeprefix("SELECT "))
    return "SELECT " + ", ".join(f"{_epoch_us(item) if name in times else item} AS {name}"
                                 for item, name in zip(items, names, strict=True)) + " FROM " + rest


def _split_select(select: str) -> list[str]:
    items, depth, start = [], 0, 0
    for i, ch in enumerate(select):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            items.append(select[start:i].strip())
            start = i + 1
    items.append(select[start:].strip())
    return items


def _zone() -> str:
    return str(zoneinfo.ZoneInfo(settings.TIME_ZONE))


def _local(column: str) -> pl.Expr:
    """A UTC instant column in the shop's time zone."""
    import polars as pl

    return pl.col(column).dt.convert_time_zone(_zone())


def _range_filter(column: str, low: Any, high: Any) -> tuple[str, list]:
    """SQL keeping the rows whose `column` is from `low` up to `high` (excluded; None: no bound), and its parameters."""
    bounds = [(op, value) for op, value in ((">=", low), ("<", high)) if value is not None]
    return "".join(f" AND {column} {op} %s" for op, _ in bounds), [value for _, value in bounds]


def _time_filter(column: str, since: datetime.datetime | None, until: datetime.datetime | None) -> tuple[str, list]:
    adapt = connection.ops.adapt_datetimefield_value   # None stays None
    return _range_filter(column, adapt(since), adapt(until))


def _ids_filter(column: str, customer_ids: Sequence[int] | None) -> tuple[str, list]:
    if customer_ids is None:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(customer_ids))})", [int(i) for i in customer_ids]


def _read_counted_orders(since: datetime.datetime | None = None, until: datetime.datetime | None = None,
                         customer_ids: Sequence[int] | None = None, moments_only: bool = False) -> pl.DataFrame:
    """Counted orders as (order_id, customer_id, ordered_at local, amount_cents); with `moments_only` as
    (customer_id, ordered_at local) alone, half the values to send and parse (what the model check counts)."""
    import polars as pl

    times, time_params = _time_filter("ordered_at", since, until)
    ids, id_params = _ids_filter("customer_id", customer_ids)
    select, schema = "customer_id, ordered_at", {"customer_id": pl.Int64, "ordered_at": pl.Datetime}
    if not moments_only:
        select, schema = f"id, {select}, {_cents('amount')}", {"order_id": pl.Int64, **schema, "amount_cents": pl.Int64}
    sql = f"SELECT {select} FROM {Order._meta.db_table} WHERE status = %s{times}{ids}"
    frame = _fetch(sql, [OrderStatus.COMPLETED, *time_params, *id_params], schema,
                   scans=Order._meta.db_table if customer_ids is None else None)
    return frame.with_columns(_local("ordered_at"))


def read_orders(since: datetime.datetime | None = None, until: datetime.datetime | None = None,
                customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Counted orders as (customer_id, ordered_at local, amount_cents), one query."""
    return _read_counted_orders(since, until, customer_ids).drop("order_id")


LINE_COLUMNS = ("order_id", "category", "quantity", "price")  # each an Int64


def _read_raw_lines(customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Lines with a category as (order_id, category, quantity in hundredths, unit price in cents), one query."""
    import polars as pl

    where, params = "", []
    if customer_ids is not None:
        marks = ", ".join(["%s"] * len(customer_ids))
        where = f" AND order_id IN (SELECT id FROM {Order._meta.db_table} WHERE customer_id IN ({marks}))"
        params = [int(i) for i in customer_ids]
    sql = (f"SELECT order_id, category_id, {_cents('quantity')}, {_cents('unit_price')}"
           f" FROM {OrderLine._meta.db_table} WHERE category_id IS NOT NULL{where}")
    return _fetch(sql, params, dict.fromkeys(LINE_COLUMNS, pl.Int64),
                  scans=OrderLine._meta.db_table if customer_ids is None else None)


def _category_lines(lines: Any, orders: Any) -> Any:
    """The `lines` (_read_raw_lines) of the given counted orders as (customer_id, category, amount_cents).

    The lines are read on their own and matched to `orders` here (on the frames' backend), which is much
    faster than a join inside SQLite.
    """
    import narwhals as nw

    joined = nw.from_native(lines).join(nw.from_native(orders).select("order_id", "customer_id"),
                                        on="order_id", how="inner")
    return joined.select(
        "customer_id", "category",
        engine_metrics.line_cents(nw.col("quantity"), nw.col("price")).alias("amount_cents"),
    ).to_native()


def _read_category_lines(orders: pl.DataFrame, customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Lines with a category of the given counted orders as (customer_id, category, amount_cents)."""
    return _category_lines(_read_raw_lines(customer_ids), orders)


def read_lines(since: datetime.datetime | None = None, until: datetime.datetime | None = None,
               customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Lines with a category of counted orders as (customer_id, category, amount_cents)."""
    return _read_category_lines(_read_counted_orders(since, until, customer_ids), customer_ids)


METRICS_KEYS = ("customer_id", "first_us", "last_us", "frequency", "monetary_cents", "interval_sq_sum", "categories",
                "category_cents", "top_category", "top_category_cents", "purchase_days", "first_day_cents")
SPEND_KEYS = ("customer_id", "category", "spend_cents", "lines")


def _stored_metrics() -> pl.DataFrame:
    """CustomerMetrics as plain integers (times in µs since 1970), as stored."""
    import polars as pl

    sql = (f"SELECT customer_id, first_order_at, last_order_at, frequency, {_cents('monetary')}, interval_sq_sum,"
           f" categories, {_cents('category_spend')}, top_category_id, {_cents('top_category_spend')},"
           f" purchase_days, {_cents('first_day_spend')} FROM {CustomerMetrics._meta.db_table}")
    schema = dict.fromkeys(METRICS_KEYS, pl.Int64) | {"first_us": pl.Datetime, "last_us": pl.Datetime}
    return _fetch(sql, [], schema, scans=CustomerMetrics._meta.db_table).with_columns(
        pl.col("first_us", "last_us").dt.timestamp("us"))


def _stored_spend(low: int | None, high: int | None) -> pl.DataFrame:
    """The stored category spend of the customers from id `low` up to `high` (excluded; None: no bound)."""
    import polars as pl

    where, params = _range_filter("customer_id", low, high)
    sql = (f"SELECT customer_id, category_id, {_cents('spend')}, lines FROM {CustomerCategorySpend._meta.db_table}"
           f" WHERE 1 = 1{where}")
    return _fetch(sql, params, dict.fromkeys(SPEND_KEYS, pl.Int64), scans=CustomerCategorySpend._meta.db_table)


def read_stored_metrics() -> pl.DataFrame:
    """CustomerMetrics of buying customers as the engine's aggregates with their category summary."""
    import polars as pl

    return _aggregates_from_stored(_stored_metrics().filter(pl.col("frequency") > 0))


def _aggregates_from_stored(metrics: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    local = [pl.from_epoch(c, time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone(_zone())
             for c in ("first_us", "last_us")]
    return metrics.select(
        "customer_id", local[0].alias("first_order_at"), local[1].alias("last_order_at"),
        *(c for c in METRICS_KEYS[3:]),
    )


# --- writing ------------------------------------------------------------------------------------------

def _decimal_text(column: str) -> pl.Expr:
    """Integer cents as exact decimal text ('-12.05'), the way Django hands decimals to the database."""
    import polars as pl

    cents = pl.col(column)
    whole = (cents.abs() // 100).cast(pl.String)
    fraction = (cents.abs() % 100).cast(pl.String).str.zfill(2)
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.when(cents.is_null()).then(None).otherwise(pl.concat_str(sign, whole, pl.lit("."), fraction))


def _datetime_text(column: str) -> pl.Expr:
    """Epoch microseconds as the text Django writes for a DateTimeField on this database."""
    import polars as pl

    moment = pl.from_epoch(pl.col(column), time_unit="us")
    if connection.vendor == "sqlite":
        return moment.dt.strftime("%Y-%m-%d %H:%M:%S%.6f").str.replace(r"\.000000$", "")
    return moment.dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00")


def _insert(table: str, columns: Sequence[str], rows: pl.LazyFrame) -> None:
    """Insert the rows of a lazy frame whose columns are in database form, made and sent in chunks of WRITE_CHUNK
    rows (Polars takes each chunk's slice before the conversion): COPY on PostgreSQL, executemany otherwise. At once,
    the text of 1,000,000 class rows and its CSV add some 0.5 GB to a run's peak on PostgreSQL; as Python tuples
    (SQLite's executemany) the class rows and 5,760,000 category spend rows of a first build, some 1.6 GB."""
    made = (rows.slice(start, WRITE_CHUNK).collect() for start in itertools.count(0, WRITE_CHUNK))
    chunks = itertools.takewhile(len, made)
    if connection.vendor == "postgresql":
        _copy(table, columns, chunks)
        return
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    with connection.cursor() as cursor:
        for chunk in chunks:
            cursor.executemany(sql, chunk.rows())


def _copy(table: str, columns: Sequence[str], chunks: Iterator[pl.DataFrame]) -> None:
    """COPY … FROM STDIN (CSV, NULL as \\N) of frames in database form, one chunk of CSV at a time; no rows, no
    statement."""
    first = next(chunks, None)
    if first is None:
        return
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for chunk in itertools.chain([first], chunks):
            buffer = io.BytesIO()
            chunk.write_csv(buffer, include_header=False, null_value="\\N")
            copy.write(buffer.getbuffer())


def _delete_customers(table: str, customer_ids: Sequence[int] | None) -> None:
    ids, params = _ids_filter("customer_id", customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE 1 = 1{ids}", params)


def _delete_rows(table: str, keys: pl.DataFrame, extra: str = "", extra_params: Sequence = ()) -> None:
    """DELETE the rows of `table` whose key columns (named as in `keys`, integers) match a row of `keys`.

    On PostgreSQL one statement takes every key as arrays: a statement per row is a round trip per row (20,000
    changed class rows of a nightly run at 1,000,000 customers: 1.8 s against 0.4 s). SQLite runs in the process.
    """
    if not len(keys):
        return
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            arrays = ", ".join(["%s::bigint[]"] * len(keys.columns))
            cursor.execute(f"DELETE FROM {table} WHERE ({', '.join(keys.columns)}) IN"
                           f" (SELECT * FROM unnest({arrays})){extra}",
                           [*(keys[column].to_list() for column in keys.columns), *extra_params])
            return
        where = " AND ".join(f"{c} = %s" for c in keys.columns)
        cursor.executemany(f"DELETE FROM {table} WHERE {where}{extra}",
                           [(*row, *extra_params) for row in keys.iter_rows()])


# --- metrics ------------------------------------------------------------------------------------------

def _with_category_summary(aggregates: Any, spend: Any) -> Any:
    """The aggregates with the category summary of `spend` (both on one backend)."""
    import narwhals as nw

    summary = nw.from_native(engine_metrics.category_summary(spend))
    return nw.from_native(aggregates).join(summary, on="customer_id", how="left").with_columns(
        nw.col("categories", "category_cents", "top_category_cents").fill_null(0).cast(nw.Int64),
        nw.col("top_category").cast(nw.Int64),
    ).to_native()


@dataclass
class StoreFrames:
    """What a full rebuild computed from the orders, for a classification right after it.

    The frames are on the engine's backend: eager Polars, or Spark DataFrames (see ``spark.py``).
    """

    orders: Any                 # counted orders (order_id, customer_id, ordered_at local or ordered_us and
                                # order_day, amount_cents)
    aggregates: Any             # what CustomerMetrics holds, per buying customer, with the category summary
    lines: Any = None           # lines with a category (_read_raw_lines); None: read them when needed
    customers: Any = None       # every customer (customer_id); None: read them when needed


def compute_stored(customer_ids: Sequence[int] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What CustomerMetrics (with its category summary) and CustomerCategorySpend should hold."""
    orders = _read_counted_orders(customer_ids=customer_ids)
    return _aggregates_and_spend(orders, _read_raw_lines(customer_ids))


def _aggregates_and_spend(orders: Any, lines: Any) -> tuple[Any, Any]:
    """(the aggregates with their category summary, the spend per category) of counted orders and their lines,
    on the frames' backend."""
    spend = _category_spend(lines, orders)
    return _with_category_summary(engine_metrics.aggregate_orders(orders), spend), spend


def _category_spend(lines: Any, orders: Any) -> Any:
    """engine_metrics.category_spend of the `lines` of `orders`, on the frames' backend. Eager Polars frames are
    matched and summed in one query on Polars' streaming engine: the matched lines are never held at once
    (10,000,000 lines: 1.7 s and a peak of +0.83 GB, against 2.6 s and +0.90 GB joined, then summed)."""
    import polars as pl

    eager = isinstance(lines, pl.DataFrame)
    spend = engine_metrics.category_spend(_category_lines(lines.lazy(), orders.lazy()) if eager
                                          else _category_lines(lines, orders))
    return spend.collect(engine="streaming") if eager else spend


def _metrics_table(aggregates: pl.DataFrame) -> pl.DataFrame:
    import polars as pl

    return aggregates.select("customer_id", pl.col("first_us", "last_us").cast(pl.Int64),
                             *(pl.col(c).cast(pl.Int64) for c in METRICS_KEYS[3:]))


METRICS_COLUMNS = ["customer_id", "first_order_at", "last_order_at", "frequency", "monetary", "interval_sq_sum",
                   "categories", "category_spend", "top_category_id", "top_category_spend", "purchase_days",
                   "first_day_spend", "updated_at"]


def _write_metrics(aggregates: pl.DataFrame, spend: pl.DataFrame, customer_ids: Sequence[int] | None) -> int:
    """Replace the stored metrics of `customer_ids` (or of everyone: then only rows that differ are written).

    Returns the number of rows written or deleted.
    """
    import polars as pl

    now = connection.ops.adapt_datetimefield_value(timezone.now())
    metrics = _metrics_table(aggregates)
    spend = spend.select(*(pl.col(c).cast(pl.Int64) for c in SPEND_KEYS))
    metrics_table, spend_table = CustomerMetrics._meta.db_table, CustomerCategorySpend._meta.db_table
    if customer_ids is None:
        every_metric, every_spend = metrics, spend
        old_metrics = _stored_metrics()  # read before the transaction: it stays short
        stale_metrics = old_metrics.join(metrics, on=list(METRICS_KEYS), how="anti", nulls_equal=True)
        metrics = metrics.join(old_metrics, on=list(METRICS_KEYS), how="anti", nulls_equal=True)
        stale_spend, spend = _spend_changes(spend)
        changed = len(stale_metrics) + len(stale_spend) + len(metrics) + len(spend)
        # the first build (or most rows new): in key order, the indexes built once after
        if len(metrics) >= BULK_SHARE * len(old_metrics) and len(metrics) > WRITE_CHUNK // 10:
            if connection.vendor == "postgresql":   # fresh copies of both tables, filled with every row
                with transaction.atomic(), fresh_copy(metrics_table) as new_metrics, \
                        fresh_copy(spend_table) as new_spend:
                    _insert_metrics(new_metrics, new_spend, every_metric.sort("customer_id"),
                                    every_spend.sort("customer_id", "category"), now)
                return changed
            metrics, spend = metrics.sort("customer_id"), spend.sort("customer_id", "category")
            bulk = indexes_built_after(metrics_table, spend_table)
        else:
            bulk = nullcontext()
        with transaction.atomic(), bulk:
            _delete_rows(spend_table, stale_spend.select("customer_id", pl.col("category").alias("category_id")))
            _delete_rows(metrics_table, stale_metrics.select("customer_id"))
            _insert_metrics(metrics_table, spend_table, metrics, spend, now)
        return changed
    with transaction.atomic():
        _delete_customers(spend_table, customer_ids)
        _delete_customers(metrics_table, customer_ids)
        _insert_metrics(metrics_table, spend_table, metrics, spend, now)
    return len(metrics) + len(spend)


SPEND_RANGE_CUSTOMERS = 100_000   # customers whose stored category spend is compared at once


def _spend_changes(spend: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(the stored category spend rows that `spend` does not have, the rows of `spend` not stored), compared one
    range of SPEND_RANGE_CUSTOMERS customers at a time: at 1,000,000 customers the stored rows (5,760,000) and two
    hash joins over all of them at once add some 0.4 GB to the peak of a weekly run."""
    import polars as pl

    bounds = spend["customer_id"].unique().sort().gather_every(SPEND_RANGE_CUSTOMERS)[1:].to_list()
    stale, new = [], []
    for low, high in zip([None, *bounds], [*bounds, None], strict=True):
        part = spend.filter(pl.lit(True) if low is None else pl.col("customer_id") >= low,
                            pl.lit(True) if high is None else pl.col("customer_id") < high)
        old = _stored_spend(low, high)
        stale.append(old.join(part, on=list(SPEND_KEYS), how="anti"))
        new.append(part.join(old, on=list(SPEND_KEYS), how="anti"))
    return pl.concat(stale), pl.concat(new)


def _insert_metrics(metrics_table: str, spend_table: str, metrics: pl.DataFrame, spend: pl.DataFrame,
                    now: str) -> None:
    """Insert metric rows (_metrics_table) and category spend rows (SPEND_KEYS) as the database takes them."""
    import polars as pl

    _insert(metrics_table, METRICS_COLUMNS, metrics.lazy().select(
        "customer_id", _datetime_text("first_us").alias("first"), _datetime_text("last_us").alias("last"),
        "frequency", _decimal_text("monetary_cents").alias("monetary"), "interval_sq_sum", "categories",
        _decimal_text("category_cents").alias("category_spend"), "top_category",
        _decimal_text("top_category_cents").alias("top_category_spend"), "purchase_days",
        _decimal_text("first_day_cents").alias("first_day_spend"), pl.lit(now).alias("updated_at"),
    ))
    _insert(spend_table, ["customer_id", "category_id", "spend", "lines"],
            spend.lazy().select("customer_id", "category", _decimal_text("spend_cents").alias("spend"), "lines"))


def _read_store() -> StoreFrames:
    """The counted orders and their lines, read into Polars."""
    return StoreFrames(_read_counted_orders(), None, _read_raw_lines())


def _rebuild(progress: Progress, read: Callable[[], StoreFrames] = _read_store, store: bool = True) -> StoreFrames:
    """The metrics computed from the orders (`read` gives them and their lines, on the engine's backend), and
    stored unless `store` is false."""
    import polars as pl

    progress("读取订单")
    frames = read()
    frames.orders = backends.persist(frames.orders)  # read again for the trend and the model check
    aggregates, spend = _aggregates_and_spend(frames.orders, frames.lines)
    frames.aggregates = backends.persist(aggregates)
    if isinstance(frames.lines, pl.DataFrame):
        # 10,000,000 lines hold about 320 MB through the metrics' write; a classification needs them again only for
        # an F/M window or a past day, and then reads them (Spark keeps its frames on its executors)
        frames.lines = None
    if store:
        progress("写入客户指标")
        _write_metrics(backends.to_polars(frames.aggregates), backends.to_polars(spend), None)
    return frames


def rebuild_metrics(progress: Progress = _noop) -> int:
    """Recompute CustomerMetrics and CustomerCategorySpend from all counted orders; returns customers.

    Rows that already hold the right numbers are left alone, so a nightly rebuild over metrics the
    signals kept current reads everything but writes next to nothing.
    """
    with lease.hold(JOB):
        return len(_rebuild(progress).aggregates)


def refresh_customers(customer_ids: Iterable[int]) -> None:
    """Recompute the metrics of some customers (after bulk writes that bypass the signals), and their
    classes against the latest run (see upkeep.reclassify)."""
    from .upkeep import reclassify

    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        aggregates, spend = compute_stored(chunk)
        _write_metrics(aggregates, spend, chunk)
    reclassify(ids)


# --- classification -----------------------------------------------------------------------------------

def day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the shop's time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@dataclass
class ClassResult:
    run: SegmentRun
    unchanged: bool = False   # the run of the day was kept: nothing it was computed from had changed


def _category_names(frame: Any) -> Any:
    """The top category's name in place of its id (on the frame's backend)."""
    import narwhals as nw
    import polars as pl

    if "top_category" not in nw.from_native(frame).collect_schema().names():
        return frame
    names = pl.DataFrame(list(Category.objects.values_list("id", "name")), orient="row",
                         schema={"top_category": pl.Int64, "_name": pl.String})
    return nw.from_native(frame).join(nw.from_native(backends.like(names, frame)), on="top_category", how="left") \
        .with_columns(nw.col("_name").alias("top_category")).drop("_name").to_native()


def metrics_frame(as_of: datetime.date, thresholds: Thresholds, progress: Progress = _noop) -> pl.DataFrame:
    """Every customer with the engine's metrics as of `as_of` (buyers and those who never bought).

    Uses the maintained CustomerMetrics when they describe `as_of` (no counted order after that day and
    no F/M window); otherwise aggregates the orders up to `as_of` (a past date or a window).
    """
    return _metrics_frames(as_of, thresholds, progress, None)[0]


def _metrics_frames(as_of: datetime.date, thresholds: Thresholds, progress: Progress,
                    computed: StoreFrames | None) -> tuple[Any, Any]:
    """(every customer's metrics as of `as_of`, the lifetime aggregates of buyers for the value models), on the
    backend of `computed` (eager Polars when None: the maintained metrics or the orders are read here)."""
    import narwhals as nw
    import polars as pl

    progress("读取客户指标")
    window = thresholds.window_months
    if computed is not None:
        orders = computed.orders
        current = not window and _none_after(orders, as_of)
    else:
        orders = None
        end = day_start(as_of + datetime.timedelta(days=1))
        current = not window and not Order.objects.completed().filter(ordered_at__gte=end).exists()
    if current:
        aggregates = lifetime = computed.aggregates if computed is not None else read_stored_metrics()
    else:
        if orders is None:
            orders = _read_counted_orders(until=day_start(as_of + datetime.timedelta(days=1)))
        orders = engine_metrics.select_period(orders, as_of)
        window_orders = engine_metrics.select_period(orders, as_of, window) if window else orders
        lines = computed.lines if computed is not None and computed.lines is not None else _read_raw_lines()
        spend = _category_spend(lines, window_orders)
        aggregates = lifetime = _with_category_summary(engine_metrics.aggregate_orders(orders), spend)
        if window:
            counted = nw.from_native(engine_metrics.aggregate_orders(window_orders))
            aggregates = nw.from_native(aggregates).rename({"frequency": "lifetime_frequency"}) \
                .drop("monetary_cents").join(counted.select("customer_id", "frequency", "monetary_cents"),
                                             on="customer_id", how="left") \
                .with_columns(nw.col("frequency").fill_null(0), nw.col("monetary_cents").fill_null(0)).to_native()
    progress("计算消费趋势")
    if orders is None:
        trend = _read_trend(as_of, thresholds.trend_months)
    else:
        trend = engine_metrics.trend_spend(orders, as_of, thresholds.trend_months)
    frame = nw.from_native(aggregates)
    derived = engine_metrics.derive_metrics(
        frame.drop(*engine_metrics.CATEGORY_COLUMNS[1:]).to_native(), as_of,
        categories=frame.select(*engine_metrics.CATEGORY_COLUMNS).to_native(), trend=trend)
    everyone = computed.customers if computed is not None and computed.customers is not None else _fetch(
        f"SELECT id FROM {Customer._meta.db_table}", [], {"customer_id": pl.Int64}, scans=Customer._meta.db_table)
    frame = nw.from_native(everyone).join(nw.from_native(derived), on="customer_id", how="left").sort("customer_id")
    return _category_names(frame.to_native()), lifetime


def _none_after(orders: Any, as_of: datetime.date) -> bool:
    """Whether no counted order of `orders` falls after the day `as_of` (local)."""
    import narwhals as nw

    frame = engine_metrics.with_epoch(engine_metrics.lazy(orders)[0])
    later = frame.filter(nw.col("order_day") > engine_metrics.day_number(as_of)).select("customer_id").head(1)
    return len(backends.to_polars(later.to_native())) == 0


def _read_trend(as_of: datetime.date, months: int) -> pl.DataFrame:
    """engine_metrics.trend_spend straight from the store: the day boundaries become instants, so the
    database says on which side of the middle each order falls and no timestamp is parsed."""
    import polars as pl

    def start_after(day: datetime.date) -> str:
        return connection.ops.adapt_datetimefield_value(day_start(day + datetime.timedelta(days=1)))

    since = start_after(engine_metrics.months_before(as_of, 2 * months))
    middle = start_after(engine_metrics.months_before(as_of, months))
    sql = (f"SELECT customer_id, {_cents('amount')}, CASE WHEN ordered_at >= %s THEN 1 ELSE 0 END"
           f" FROM {Order._meta.db_table} WHERE status = %s AND ordered_at >= %s AND ordered_at < %s")
    rows = _fetch(sql, [middle, OrderStatus.COMPLETED, since, start_after(as_of)],
                  {"customer_id": pl.Int64, "cents": pl.Int64, "recent": pl.Int64}, scans=Order._meta.db_table)
    recent = pl.col("recent") == 1
    return rows.group_by("customer_id").agg(
        pl.when(recent).then(pl.col("cents")).otherwise(0).sum().cast(pl.Int64).alias("spend_recent_cents"),
        pl.when(~recent).then(pl.col("cents")).otherwise(0).sum().cast(pl.Int64).alias("spend_previous_cents"),
    )


# --- churn and value forecast -------------------------------------------------------------------------

VALUE_COLUMNS = ("p_alive", "expected_purchases_30d", "expected_purchases_90d", "expected_purchases_365d",
                 "expected_spend", "clv", "value_at_risk")
VALUE_MONTHS = 12


def value_forecast(aggregates: pl.DataFrame, as_of: datetime.date, thresholds: Thresholds,
                   orders: Any = None, only: pl.Series | None = None) -> tuple[pl.DataFrame, dict]:
    """Check the purchase models on the shop's holdout, fit the chosen one and Gamma-Gamma on the buyers'
    lifetime aggregates; per-customer values and a summary.

    When the last fit stands (:func:`_reusable_fits`) and `only` (customer ids) is given, the values are computed
    for those customers alone (summary ``"refitted": false``); otherwise for every buyer.

    The purchase model is the one that forecast the last 25 % of the history best
    (:func:`model_check.check_models`; MBG/NBD when the history is too short to check).
    Returns (frame, summary). The frame has ``customer_id`` and, per buying customer:

    * ``p_alive`` — the probability that the customer is still active (活跃概率), from the chosen model;
    * ``expected_purchases_30d`` / ``_90d`` / ``_365d`` — expected purchases (purchase days) in the next
      30, 90 and 365 days, P(alive) included;
    * ``expected_spend_cents`` — the expected spend per purchase (Gamma-Gamma: the customer's mean spend
      on repeat purchase days shrunk towards the population mean);
    * ``clv_cents`` — the value of the next 12 months, discounted by ``thresholds.monthly_discount``
      a month: Σ_k (E[purchases by month k] − E[by month k−1]) × expected spend / (1 + d)^k;
    * ``value_at_risk_cents`` — the value at stake if the customer has in fact gone:
      (1 − P(alive)) × V, where V is what the customer would bring over the same 12 months if still
      active (the CLV without the P(alive) factor). When Gamma-Gamma cannot be fitted, V is the
      customer's historical spend instead, so the risk list still ranks by money.

    Days are the time unit and repeat purchases are counted on distinct days. When a model cannot be
    fitted (too few customers or repeat buyers, no convergence) its columns are null and the summary
    says why: ``{"purchases": {...}, "spend": {...}, ...}``, each ``{"model", "fitted", ...}`` with
    ``params`` and ``log_likelihood`` or ``code`` / ``reason`` / ``reason_en``; ``model_check`` keeps
    the holdout check (:meth:`model_check.ModelCheck.to_dict`), made at most every
    :data:`CHECK_EVERY_DAYS` days (see :func:`_model_check`).
    """
    import polars as pl

    started = time.perf_counter()
    buyers = aggregates.filter(pl.col("purchase_days") > 0)
    days = ("first_day", "last_day") if "first_day" in buyers.columns else ("first_order_at", "last_order_at")
    summary = clv_data.summary_from_metrics(
        buyers.select("customer_id", *days, "purchase_days", "monetary_cents", "first_day_cents"),
        as_of=as_of, time_unit="days")
    last = _last_fit()
    check = _model_check(as_of, last, orders)
    start = {"purchases": last.get(check["chosen"]), "spend": last.get("Gamma-Gamma")}
    reused = _reusable_fits(last["value_model"], as_of, check["chosen"], len(buyers))
    if reused and only is not None:
        summary = summary.filter(pl.col("customer_id").is_in(only.implode()))
    result = clv.forecast(summary, time_unit="days", model=check["chosen"], months=VALUE_MONTHS,
                          monthly_discount=thresholds.monthly_discount, start=start, fitted=reused)
    fitted_on = last["value_model"]["fitted_on"] if reused else as_of.isoformat()
    fitted_customers = last["value_model"]["fitted_customers"] if reused else len(buyers)
    table = result.table.join(buyers.select("customer_id", "monetary_cents"), on="customer_id", how="left")
    stake = pl.col("value_at_stake").fill_null((1 - pl.col("p_alive")) * pl.col("monetary_cents") / 100)
    frame = table.select(
        "customer_id",
        *(pl.col(c).round(6) for c in VALUE_COLUMNS[:4]),
        *((pl.col(c) * 100).round(0).cast(pl.Int64).alias(f"{name}_cents")
          for c, name in (("expected_spend", "expected_spend"), ("clv", "clv"))),
        (stake * 100).round(0).cast(pl.Int64).alias("value_at_risk_cents"),
    )
    summary_json = value_model_summary(result.purchases, result.spend) | {
        "time_unit": "days", "months": VALUE_MONTHS, "monthly_discount": thresholds.monthly_discount,
        "customers": len(buyers), "seconds": round(time.perf_counter() - started, 3),
        "model_check": check, "fitted_on": fitted_on, "fitted_customers": fitted_customers, "refitted": not reused,
    }
    return frame, summary_json


REFIT_EVERY_DAYS = 7      # a fit stands for at most this many days …
REFIT_SHARE = 0.01        # … and while the number of buyers moved less than this share


def _reusable_fits(model: dict, as_of: datetime.date, chosen: str, buyers: int) -> tuple | None:
    """The latest run's two fits when they may stand for fitting again (the same purchase model, fitted less than
    REFIT_EVERY_DAYS days before `as_of` on a number of buyers within REFIT_SHARE of today's), else None.

    The parameters describe the shop's customers as a whole; a day of orders moves them far less than the fit's own
    uncertainty, while fitting Pareto/NBD on a million customers takes minutes. Every customer's P(alive), expected
    purchases and value are still computed from today's orders with those parameters.
    """
    fitted_on, fitted_customers = model.get("fitted_on"), model.get("fitted_customers")
    if not fitted_on or not fitted_customers or (model.get("purchases") or {}).get("model") != chosen:
        return None
    if not 0 <= (as_of - datetime.date.fromisoformat(fitted_on)).days < REFIT_EVERY_DAYS:
        return None
    if abs(buyers - fitted_customers) > REFIT_SHARE * fitted_customers:
        return None
    fits = clv.fit_from(model.get("purchases"), "days"), clv.fit_from(model.get("spend"), "days")
    return fits if all(fit is not None for fit in fits) else None


CHECK_EVERY_DAYS = 7


def _model_check(as_of: datetime.date, last: dict[str, Any], orders: Any = None) -> dict:
    """The holdout check of the purchase models (``ModelCheck.to_dict()``) as of `as_of`: the latest run's
    when it ended at most CHECK_EVERY_DAYS − 1 days before `as_of` (fitting every model on the calibration
    period costs several times the forecast itself, and a model's standing changes slowly), else a new one."""
    import narwhals as nw
    import polars as pl

    previous = last.get("model_check")
    if previous and previous.get("end"):
        age = (as_of - datetime.date.fromisoformat(previous["end"])).days
        if 0 <= age < CHECK_EVERY_DAYS:
            return previous
    if orders is None:
        orders = _read_counted_orders(until=day_start(as_of + datetime.timedelta(days=1)), moments_only=True)
    # The distinct purchase days (customer, local day) are what the check counts. A lazy backend (Spark) hands back
    # only those; eager Polars orders go as they are (the check finds the distinct days with less memory).
    days = nw.from_native(engine_metrics.select_period(orders, as_of)).select("customer_id", "order_day")
    if isinstance(days, nw.LazyFrame):
        days = days.unique()
    days = backends.to_polars(days.to_native()).select("customer_id", pl.col("order_day").cast(pl.Date).alias("day"))
    return model_check.check_models(days, end=as_of, date_col="day", start_params=last["check"]).to_dict()


_PARAMETER_ORDER = {"BG/NBD": ("r", "alpha", "a", "b"), "MBG/NBD": ("r", "alpha", "a", "b"),
                    "Pareto/NBD": ("r", "alpha", "s", "beta"), "Gamma-Gamma": ("p", "q", "gamma")}


def _last_fit() -> dict[str, Any]:
    """The parameters of the latest run's fits by model name, where the search starts: on nearly the same
    data it reaches the same optimum (within the fit's tolerance) in a few steps instead of dozens.
    ``"check"`` holds those of the holdout check's fits on the calibration period, ``"model_check"`` the
    latest check itself, ``"value_model"`` the run's whole entry."""
    def ordered(fit: dict) -> list[float] | None:
        names = _PARAMETER_ORDER.get(fit.get("model", ""))
        if fit.get("fitted") and names and all(n in fit.get("params", {}) for n in names):
            return [float(fit["params"][n]) for n in names]
        return None

    run = SegmentRun.objects.order_by("-finished_at").values_list("value_model", flat=True).first() or {}
    fits = [run.get("purchases") or {}, run.get("spend") or {}]
    start: dict[str, Any] = {fit["model"]: ordered(fit) for fit in fits if ordered(fit)}
    checked = (run.get("model_check") or {}).get("models", [])
    start["check"] = {fit["model"]: ordered(fit) for fit in checked if ordered(fit)}
    start["model_check"] = run.get("model_check")
    start["value_model"] = run
    return start


def value_model_summary(purchases: Any, spend: Any) -> dict:
    """What SegmentRun.value_model keeps: per model its parameters and log-likelihood, or why not fitted."""
    def one(fit) -> dict:
        common = {"model": fit.model, "fitted": bool(fit.ok), "n_customers": int(fit.n_customers),
                  "n_repeat_buyers": int(fit.n_repeat_buyers)}
        if fit.ok:
            return common | {"params": {k: float(v) for k, v in fit.params.items()},
                             "log_likelihood": float(fit.log_likelihood)}
        return common | {"code": fit.code, "reason": fit.reason, "reason_en": fit.reason_en}

    return {"purchases": one(purchases), "spend": one(spend)}


# --- storing classes ----------------------------------------------------------------------------------

TEXT_COLUMNS = ("trend", "rfm_class", "rf_segment", "abc_class", "frequency_tier", "value_tier", "lifecycle",
                "category_loyalty")
FLAG_COLUMNS = ("r_high", "f_high", "m_high", "overdue")
# CustomerSegment columns: (column, kind) with kind "cents" for decimals kept as cents in the frame.
SEGMENT_FIELDS = (
    ("customer_id", "int"), ("changed_on", "date"), ("first_order_day", "date"), ("last_order_day", "date"),
    ("fingerprint", "int"), ("frequency", "int"), ("monetary", "cents"), ("avg_order_value", "cents"),
    ("mean_interval_days", "float"), ("std_interval_days", "float"), ("spend_recent", "cents"),
    ("spend_previous", "cents"), ("trend", "text"),
    ("r_score", "int"), ("f_score", "int"), ("m_score", "int"), ("r_high", "flag"), ("f_high", "flag"),
    ("m_high", "flag"), ("rfm_class", "text"), ("rf_segment", "text"), ("abc_class", "text"),
    ("frequency_tier", "text"), ("value_tier", "text"), ("lifecycle", "text"), ("overdue", "flag"),
    ("category_loyalty", "text"), ("p_alive", "float"), ("expected_purchases_30d", "float"),
    ("expected_purchases_90d", "float"), ("expected_purchases_365d", "float"), ("expected_spend", "cents"),
    ("clv", "cents"), ("value_at_risk", "cents"),
)
SEGMENT_COLUMNS = [name for name, _ in SEGMENT_FIELDS]
# What a row's fingerprint covers: everything but its date, the fingerprint itself and the forecast (which moves a
# little every day; a run writes it for the rows that changed, and for every row when the models were fitted again).
FORECAST = (*VALUE_COLUMNS[:4], "expected_spend", "clv", "value_at_risk")   # the CustomerSegment columns of it
FINGERPRINTED = [name for name in SEGMENT_COLUMNS[1:] if name not in ("changed_on", "fingerprint", *FORECAST)]
SNAPSHOT_COLUMNS = ["as_of", "customer_id", "r_score", "f_score", "m_score", *CLASS_NAMES, "overdue"]
_DTYPES = {"int": "Int64", "date": "String", "cents": "Int64", "float": "Float64", "text": "String",
           "flag": "Int8"}  # Polars types by name: Polars is imported only where a frame is made


def _segment_values(classified: pl.DataFrame, as_of: datetime.date) -> pl.DataFrame:
    """The CustomerSegment rows as plain values (money in cents, flags 0/1, dates as ISO text) with their
    fingerprint: what is compared and written."""
    import polars as pl

    def day_before(days: str) -> pl.Expr:
        return (pl.lit(as_of) - pl.duration(days=pl.col(days))).cast(pl.String)

    values = classified.select(
        "customer_id", pl.lit(as_of.isoformat()).alias("changed_on"),
        day_before("tenure_days").alias("first_order_day"), day_before("recency_days").alias("last_order_day"),
        pl.lit(None, pl.Int64).alias("fingerprint"),
        pl.col("frequency").fill_null(0), pl.col("monetary_cents").fill_null(0).alias("monetary"),
        (pl.col("avg_order_value") * 100).round(0).alias("avg_order_value"),
        "mean_interval_days", "std_interval_days",
        pl.col("spend_recent_cents").fill_null(0).alias("spend_recent"),
        pl.col("spend_previous_cents").fill_null(0).alias("spend_previous"), "trend",
        "r_score", "f_score", "m_score", "r_high", "f_high", "m_high", "rfm_class", "rf_segment", "abc_class",
        "frequency_tier", "value_tier", "lifecycle", pl.col("overdue").fill_null(False), "category_loyalty",
    ).with_columns(pl.col(c).fill_null("") for c in TEXT_COLUMNS).with_columns(
        pl.col(name).cast(getattr(pl, _DTYPES[kind])) for name, kind in SEGMENT_FIELDS if name not in FORECAST)
    return values.with_columns(pl.struct(FINGERPRINTED).hash(seed=0).reinterpret(signed=True).alias("fingerprint"))


def _with_forecast(rows: pl.DataFrame, values: pl.DataFrame) -> pl.DataFrame:
    """The rows of _segment_values with the forecast of value_forecast (null for customers it has none of)."""
    import polars as pl

    forecast = values.select(
        "customer_id", *VALUE_COLUMNS[:4], pl.col("expected_spend_cents").alias("expected_spend"),
        pl.col("clv_cents").alias("clv"), pl.col("value_at_risk_cents").alias("value_at_risk"))
    return rows.join(forecast, on="customer_id", how="left").select(
        pl.col(name).cast(getattr(pl, _DTYPES[kind])) for name, kind in SEGMENT_FIELDS)


def _stored_fingerprints() -> pl.DataFrame:
    """(customer_id, fingerprint) of every stored class row; a null fingerprint matches nothing computed."""
    import polars as pl

    sql = f"SELECT customer_id, fingerprint FROM {CustomerSegment._meta.db_table}"
    return _fetch(sql, [], {"customer_id": pl.Int64, "fingerprint": pl.Int64}, scans=CustomerSegment._meta.db_table)


def _segment_rows(values: pl.DataFrame) -> pl.LazyFrame:
    """Plain values → what the database takes (decimal text, booleans)."""
    import polars as pl

    return values.lazy().select(
        _decimal_text(name).alias(name) if kind == "cents"
        else pl.col(name).cast(pl.Boolean) if kind == "flag" else pl.col(name)
        for name, kind in SEGMENT_FIELDS
    )


def _code_case(column: str) -> tuple[str, list]:
    """SQL turning a class name column into its snapshot code, and its parameters."""
    names = CLASS_NAMES[column]
    return f"CASE {column} {' '.join(['WHEN %s THEN %s'] * len(names))} ELSE 0 END", \
        [value for i, name in enumerate(names, start=1) for value in (name, i)]


def _snapshot_values(values: pl.DataFrame, as_of_text: str) -> pl.LazyFrame:
    import polars as pl

    codes = [
        pl.col(column).replace_strict(["", *names], list(range(len(names) + 1)), return_dtype=pl.Int16)
        for column, names in CLASS_NAMES.items()
    ]
    return values.lazy().select(pl.lit(as_of_text).alias("as_of"), "customer_id", "r_score", "f_score", "m_score",
                                *codes, pl.col("overdue").cast(pl.Boolean))


def _changed_rows(values: pl.DataFrame, old: pl.DataFrame) -> pl.Series:
    """The customer ids of the computed rows `values` whose fingerprint differs from the stored one (`old`, as
    _stored_fingerprints gives it) or that have none stored."""
    return values.join(old, on=["customer_id", "fingerprint"], how="anti")["customer_id"]


def _write_classes(values: pl.DataFrame, old: pl.DataFrame, changed_ids: pl.Series, as_of: datetime.date,
                   rewrite: bool) -> int:
    """Store CustomerSegment and the day's snapshot, writing only what changed; returns the class rows written.

    `old` is (customer_id, fingerprint) of the stored rows (_stored_fingerprints), `changed_ids` the rows of
    `values` that differ from them (_changed_rows): those are written, and the table is replaced when most are or
    when `rewrite` (the value models were fitted again: every row's forecast is new). The snapshot gets a line for
    each written row (:func:`_snapshot_kind`). Must run inside a transaction.
    """
    import polars as pl

    seg_table, snap_table = CustomerSegment._meta.db_table, SegmentSnapshot._meta.db_table
    changed = values.filter(pl.col("customer_id").is_in(changed_ids.implode()))
    gone = old.join(values, on="customer_id", how="anti").select("customer_id")
    most = len(changed) >= BULK_SHARE * len(old) and len(changed) > WRITE_CHUNK // 10
    everything = rewrite or not len(old) or most
    as_of_text = connection.ops.adapt_datefield_value(as_of)
    snapshot = _snapshot_kind(as_of)
    if snapshot == "everyone":
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {snap_table} WHERE as_of = %s", [as_of_text])
    if everything:
        with _replacing_segments() as target:
            _insert(target, SEGMENT_COLUMNS, _segment_rows(values))
            if snapshot == "everyone":
                _snapshot_from(target, as_of_text)
    else:
        _delete_rows(seg_table, pl.concat([changed.select("customer_id"), gone]))
        _insert(seg_table, SEGMENT_COLUMNS, _segment_rows(changed))
        if snapshot == "everyone":
            _snapshot_from(seg_table, as_of_text)
    if snapshot == "same day":
        _delete_rows(snap_table, pl.concat([changed.select("customer_id"), gone]), " AND as_of = %s", [as_of_text])
    if snapshot != "everyone":
        _insert(snap_table, SNAPSHOT_COLUMNS, _snapshot_values(changed, as_of_text))
    return len(changed) + len(gone)


def _snapshot_kind(as_of: datetime.date) -> str:
    """How a run of `as_of` writes the snapshot: "changes" (a later day than the latest snapshot, which the latest
    run wrote: lines for the rows that changed since), "same day" (that day again: the lines of the rows that changed
    are replaced) or "everyone" (the first run, a day before the latest snapshot, or after such a run: the class
    rows then hold another day's classes, so every customer gets a line)."""
    latest = SegmentSnapshot.objects.aggregate(day=Max("as_of"))["day"]
    run = SegmentRun.objects.order_by("-finished_at").values_list("as_of", flat=True).first()
    if latest is None or run != latest or as_of < latest:
        return "everyone"
    return "changes" if as_of > latest else "same day"


def _snapshot_from(table: str, as_of_text: str) -> None:
    """A new day's snapshot: the class rows just written to `table`, copied inside the database."""
    cases = [_code_case(c) for c in CLASS_NAMES]
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {SegmentSnapshot._meta.db_table} ({', '.join(SNAPSHOT_COLUMNS)}) SELECT %s, customer_id,"
            f" r_score, f_score, m_score, {', '.join(sql for sql, _ in cases)}, overdue FROM {table}",
            [as_of_text, *(value for _, params in cases for value in params)])


@contextmanager
def _replacing_segments():
    """Every CustomerSegment row is replaced by what the block writes to the table it is given: on PostgreSQL an
    empty copy that then takes the table's place (``lib.db.fresh_copy``: no dead rows, indexes built once); on
    SQLite the table itself, emptied and without its secondary indexes, built again after."""
    table = CustomerSegment._meta.db_table
    if connection.vendor != "sqlite":
        with fresh_copy(table) as new:
            yield new
        return
    with indexes_built_after(table):
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {table}")
        yield table


def _counts(frame: pl.DataFrame) -> dict:
    """{column: {class: [customers, spend in yuan]}} in the classes' own order (empty class = "")."""
    import polars as pl

    counts = {}
    # the few columns counted, taken once (a group-by on the whole frame, 9 times: +0.3–0.4 GB at 1,000,000 customers)
    counted = frame.lazy().select(*CLASS_NAMES, pl.col("monetary_cents").fill_null(0))
    for column, names in CLASS_NAMES.items():
        grouped = counted.group_by(pl.col(column).fill_null("")).agg(
            pl.len().alias("n"), pl.col("monetary_cents").sum().alias("m")).collect()
        found = {row[0]: [int(row[1]), int(row[2]) / 100] for row in grouped.iter_rows()}
        counts[column] = {name: found.get(name, [0, 0.0]) for name in [*names, ""] if name in found or name}
    return counts


def classify_all(as_of: datetime.date | None = None, thresholds: Thresholds | None = None,
                 progress: Progress = _noop) -> ClassResult:
    """Classify every customer as of a day (default today): CustomerSegment, a snapshot and a SegmentRun.

    Also fits the churn and value models (see :func:`value_forecast`); when they cannot be fitted the
    value columns stay null and the run's ``value_model`` says why.
    """
    with lease.hold(JOB):
        return _classify_all(as_of, thresholds, progress, None)


def _classify_all(as_of: datetime.date | None, thresholds: Thresholds | None, progress: Progress,
                  computed: StoreFrames | None) -> ClassResult:
    started = time.perf_counter()
    as_of = as_of or today()
    thresholds = thresholds or SegmentSettings.load()
    frame, lifetime = _metrics_frames(as_of, thresholds, progress, computed)
    progress("分类")
    classified, refs = classify(frame, thresholds)
    del frame   # read no more (1,000,000 rows of metrics)
    classified = backends.to_polars(classified)  # one row per customer, to the driver
    # The stored rows' fingerprints, to write only the rows that changed (every row when the value models are
    # fitted again), and to forecast only for those while the last fit stands. Read before the transaction.
    segment_values = _segment_values(classified, as_of)
    stored = _stored_fingerprints()
    changed = _changed_rows(segment_values, stored)
    progress("流失与价值预测")
    values, value_model = value_forecast(backends.to_polars(lifetime), as_of, thresholds,
                                         None if computed is None else computed.orders, only=changed)
    segment_values = _with_forecast(segment_values, values)
    progress("写入分层结果")
    with transaction.atomic():
        _write_classes(segment_values, stored, changed, as_of, rewrite=value_model["refitted"])
        run, _ = SegmentRun.objects.update_or_create(as_of=as_of, defaults={
            "thresholds": thresholds.to_dict(), "references": refs.to_dict(), "counts": _counts(classified),
            "customers": len(classified), "seconds": round(time.perf_counter() - started, 3),
            "value_model": value_model, "cutoffs": cutoffs(classified, thresholds),
        })
    return ClassResult(run)


ENGINES = ("polars", "spark")
SOURCES = ("jdbc", "parquet")   # how the orders reach Spark (spark.reader)


def unchanged_run(as_of: datetime.date) -> SegmentRun | None:
    """The latest run, when it is of `as_of` and nothing it was computed from has changed since: a run of that day
    again would give the same classes. None otherwise.

    What changes a run's outcome on its own day is the thresholds and the customers' orders. Every write of an order
    or a line classifies its customer again at once (``upkeep``), which leaves the row without its fingerprint; a new
    customer has no class row until a run, a deleted one takes its row along. So: the same thresholds, as many class
    rows as the run classified and as there are customers, none without a fingerprint (a partial index of those).
    ``kehu segment --full`` never takes this path: it recomputes the metrics from every order.
    """
    run = SegmentRun.objects.order_by("-finished_at").first()
    if run is None or run.as_of != as_of or not run.cutoffs or run.thresholds != SegmentSettings.load().to_dict():
        return None
    rows = CustomerSegment.objects.count()
    if rows != run.customers or Customer.objects.count() != rows \
            or CustomerSegment.objects.filter(fingerprint__isnull=True).exists():
        return None
    return run


def refresh(as_of: datetime.date | None = None, full: bool = False, progress: Progress = _noop,
            wait: float = 0, engine: str = "polars", source: str | None = None) -> ClassResult:
    """What `kehu segment` does: optionally rebuild the metrics, then classify everyone.

    After a rebuild the classification works on the frames the rebuild computed (no second read).
    `engine` "spark" computes on Spark (see ``spark.py``; `source` how the tables get there): the metrics
    from the orders, stored only with `full`; the per-customer results come back to this process, which
    fits the value models and writes the classes as the Polars engine does.
    One run at a time across processes and servers: while another holds the job's lease this waits
    up to `wait` seconds, then raises lease.JobRunning.
    """
    if engine not in ENGINES:
        raise ValueError(f"未知的计算引擎 unknown engine: {engine}")
    with lease.hold(JOB, wait) as held:
        def step(stage: str) -> None:
            held.renew()
            progress(stage)

        if engine == "polars" and not full:
            kept = unchanged_run(as_of or today())
            if kept is not None:
                return ClassResult(kept, unchanged=True)
        if engine == "polars":
            return _classify_all(as_of, None, step, _rebuild(step) if full else None)
        from . import spark

        with spark.reader(source) as read:
            return _classify_all(as_of, None, step, _rebuild(step, read, store=full))


def risk_list(limit: int | None = 50, user_scope_qs: QuerySet | None = None) -> QuerySet:
    """Customers by value at risk (流失风险价值), largest first, ties by customer id: CustomerSegment rows.

    Only customers with a value at risk (the churn model was fitted and they bought). `user_scope_qs`,
    a Customer queryset, limits the list to the customers a user may see.
    """
    rows = CustomerSegment.objects.filter(value_at_risk__isnull=False).select_related("customer") \
        .order_by("-value_at_risk", "customer_id")
    if user_scope_qs is not None:
        rows = rows.filter(customer__in=user_scope_qs)
    return rows[:limit] if limit is not None else rows


# --- movement -----------------------------------------------------------------------------------------

def _snapshot_codes(day: datetime.date, column: str) -> pl.DataFrame:
    """(customer_id, code) of every customer's class in `column` on `day`: its latest snapshot line up to then."""
    import polars as pl

    if column not in CLASS_NAMES:
        raise ValueError(f"不能按 {column} 比较")
    sql = (f"SELECT customer_id, {_day_number('as_of')}, {column} FROM {SegmentSnapshot._meta.db_table}"
           " WHERE as_of <= %s")
    lines = _fetch(sql, [connection.ops.adapt_datefield_value(day)],
                   {"customer_id": pl.Int64, "day": pl.Int64, "code": pl.Int64})
    return lines.sort("day").group_by("customer_id").agg(pl.col("code").last())


def _day_number(column: str) -> str:
    """SQL for a date column as days since 1970 (an integer: no date text parsed in Python)."""
    if connection.vendor == "sqlite":
        return f"CAST(julianday({column}) - 2440587.5 AS INTEGER)"
    return f"({column} - DATE '1970-01-01')"


NO_CLASS = "（无）"


def migration_matrix(from_date: datetime.date, to_date: datetime.date,
                     column: str = "rfm_class") -> dict[str, dict[str, int]]:
    """{from class: {to class: customers}} between two snapshots; NO_CLASS for no class / not there."""
    import polars as pl

    before = _snapshot_codes(from_date, column).rename({"code": "from"})
    after = _snapshot_codes(to_date, column).rename({"code": "to"})
    joined = before.join(after, on="customer_id", how="full", coalesce=True).with_columns(
        pl.col("from").fill_null(0), pl.col("to").fill_null(0))
    grouped = joined.group_by("from", "to").agg(pl.len().alias("n"))
    names = [NO_CLASS, *CLASS_NAMES[column]]
    matrix: dict[str, dict[str, int]] = {}
    for code_from, code_to, n in sorted(grouped.iter_rows()):
        matrix.setdefault(names[code_from], {})[names[code_to]] = int(n)
    order = {name: i for i, name in enumerate([*CLASS_NAMES[column], NO_CLASS])}
    return {k: dict(sorted(v.items(), key=lambda kv: order[kv[0]]))
            for k, v in sorted(matrix.items(), key=lambda kv: order[kv[0]])}


def movers(from_date: datetime.date, to_date: datetime.date, from_class: str, to_class: str,
           column: str = "rfm_class"):
    """Customers in `from_class` on `from_date` and in `to_class` on `to_date` (a Customer queryset)."""
    was = SegmentSnapshot.objects.on(from_date).filter(**{column: class_code(column, from_class)})
    now = SegmentSnapshot.objects.on(to_date).filter(**{column: class_code(column, to_class)},
                                                     customer_id__in=was.values("customer_id"))
    return Customer.objects.filter(id__in=now.values("customer_id"))


def snapshot_dates() -> list[datetime.date]:
    return list(SegmentRun.objects.order_by("as_of").values_list("as_of", flat=True))
