"""From the store to stored classes: orders → metrics → engine → CustomerSegment + SegmentSnapshot.

Tables move in bulk: rows are read with one SQL query each through the DB cursor into Polars (never
the ORM row by row), the engine (``engine/``) does the arithmetic, and results go back with one
``executemany`` per table inside one transaction. Money travels as integer cents and times as
epoch microseconds, so a full rebuild gives exactly the rows the signals keep current.
"""

from __future__ import annotations

import datetime
import time
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import narwhals as nw
import polars as pl
from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderLine, OrderStatus

from .engine import metrics as engine_metrics
from .engine.classify import Thresholds, classify
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

Progress = Callable[[str], None]
FETCH_CHUNK = 200_000
WRITE_CHUNK = 50_000


def _noop(stage: str) -> None:
    pass


# --- reading ------------------------------------------------------------------------------------------

def _epoch_us(column: str) -> str:
    """SQL for a timestamp column as integer microseconds since 1970 (UTC)."""
    if connection.vendor == "sqlite":
        # Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC.
        return (f"(CAST(strftime('%%s', {column}) AS INTEGER) * 1000000"
                f" + CAST(substr({column} || '.000000', 21, 6) AS INTEGER))")
    return f"CAST(EXTRACT(EPOCH FROM {column}) * 1000000 AS BIGINT)"


def _cents(column: str) -> str:
    """SQL for a decimal(…, 2) column as integer cents (SQLite keeps decimals as REAL)."""
    if connection.vendor == "sqlite":
        return f"CAST(ROUND({column} * 100) AS INTEGER)"
    return f"CAST({column} * 100 AS BIGINT)"


def _fetch(sql: str, params: Sequence, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    frames = []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(FETCH_CHUNK):
            frames.append(pl.DataFrame(rows, schema=schema, orient="row"))
    return pl.concat(frames) if frames else pl.DataFrame(schema=schema)


def _local(column: str) -> pl.Expr:
    zone = zoneinfo.ZoneInfo(settings.TIME_ZONE)
    return pl.from_epoch(pl.col(column), time_unit="us").dt.replace_time_zone("UTC") \
        .dt.convert_time_zone(str(zone))


def _time_filter(column: str, since: datetime.datetime | None, until: datetime.datetime | None) -> tuple[str, list]:
    sql, params = "", []
    if since is not None:
        sql += f" AND {column} >= %s"
        params.append(connection.ops.adapt_datetimefield_value(since))
    if until is not None:
        sql += f" AND {column} < %s"
        params.append(connection.ops.adapt_datetimefield_value(until))
    return sql, params


def _ids_filter(column: str, customer_ids: Sequence[int] | None) -> tuple[str, list]:
    if customer_ids is None:
        return "", []
    return f" AND {column} IN ({', '.join(['%s'] * len(customer_ids))})", list(customer_ids)


def read_orders(since: datetime.datetime | None = None, until: datetime.datetime | None = None,
                customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Counted orders as (customer_id, ordered_at local, amount_cents), one query."""
    table = Order._meta.db_table
    times, time_params = _time_filter("ordered_at", since, until)
    ids, id_params = _ids_filter("customer_id", customer_ids)
    sql = (f"SELECT customer_id, {_epoch_us('ordered_at')}, {_cents('amount')} FROM {table}"
           f" WHERE status = %s{times}{ids}")
    frame = _fetch(sql, [OrderStatus.COMPLETED, *time_params, *id_params],
                   {"customer_id": pl.Int64, "ordered_us": pl.Int64, "amount_cents": pl.Int64})
    return frame.select("customer_id", _local("ordered_us").alias("ordered_at"), "amount_cents")


def read_lines(since: datetime.datetime | None = None, until: datetime.datetime | None = None,
               customer_ids: Sequence[int] | None = None) -> pl.DataFrame:
    """Lines with a category of counted orders as (customer_id, category, amount_cents), one query."""
    times, time_params = _time_filter("o.ordered_at", since, until)
    ids, id_params = _ids_filter("o.customer_id", customer_ids)
    sql = (f"SELECT o.customer_id, l.category_id, {_cents('l.quantity')}, {_cents('l.unit_price')}"
           f" FROM {OrderLine._meta.db_table} l JOIN {Order._meta.db_table} o ON o.id = l.order_id"
           f" WHERE o.status = %s AND l.category_id IS NOT NULL{times}{ids}")
    frame = _fetch(sql, [OrderStatus.COMPLETED, *time_params, *id_params],
                   {"customer_id": pl.Int64, "category": pl.Int64, "quantity": pl.Int64, "price": pl.Int64})
    return nw.from_native(frame).select(
        "customer_id", "category",
        engine_metrics.line_cents(nw.col("quantity"), nw.col("price")).alias("amount_cents"),
    ).to_native()


def read_stored_metrics() -> tuple[pl.DataFrame, pl.DataFrame]:
    """CustomerMetrics as the engine's aggregates, and CustomerCategorySpend as category spend."""
    sql = (f"SELECT customer_id, {_epoch_us('first_order_at')}, {_epoch_us('last_order_at')}, frequency,"
           f" {_cents('monetary')}, interval_sq_sum FROM {CustomerMetrics._meta.db_table} WHERE frequency > 0")
    metrics = _fetch(sql, [], {"customer_id": pl.Int64, "first_us": pl.Int64, "last_us": pl.Int64,
                               "frequency": pl.Int64, "monetary_cents": pl.Int64, "interval_sq_sum": pl.Int64})
    metrics = metrics.select("customer_id", _local("first_us").alias("first_order_at"),
                             _local("last_us").alias("last_order_at"), "frequency", "monetary_cents",
                             "interval_sq_sum")
    sql = (f"SELECT customer_id, category_id, {_cents('spend')}, lines"
           f" FROM {CustomerCategorySpend._meta.db_table}")
    spend = _fetch(sql, [], {"customer_id": pl.Int64, "category": pl.Int64, "spend_cents": pl.Int64,
                             "lines": pl.Int64})
    return metrics, spend


# --- writing ------------------------------------------------------------------------------------------

def _decimal_text(column: str) -> pl.Expr:
    """Integer cents as exact decimal text ('-12.05'), the way Django hands decimals to the database."""
    cents = pl.col(column)
    whole = (cents.abs() // 100).cast(pl.String)
    fraction = (cents.abs() % 100).cast(pl.String).str.zfill(2)
    sign = pl.when(cents < 0).then(pl.lit("-")).otherwise(pl.lit(""))
    return pl.when(cents.is_null()).then(None).otherwise(pl.concat_str(sign, whole, pl.lit("."), fraction))


def _datetime_text(column: str) -> pl.Expr:
    """Epoch microseconds as the text Django writes for a DateTimeField on this database."""
    moment = pl.from_epoch(pl.col(column), time_unit="us")
    if connection.vendor == "sqlite":
        return moment.dt.strftime("%Y-%m-%d %H:%M:%S%.6f").str.replace(r"\.000000$", "")
    return moment.dt.strftime("%Y-%m-%d %H:%M:%S%.6f+00:00")


def _insert(table: str, columns: Sequence[str], rows: Iterable[tuple]) -> None:
    sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})"
    rows = list(rows)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), WRITE_CHUNK):
            cursor.executemany(sql, rows[start:start + WRITE_CHUNK])


def _delete_customers(table: str, customer_ids: Sequence[int] | None) -> None:
    ids, params = _ids_filter("customer_id", customer_ids)
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE 1 = 1{ids}", params)


# --- metrics ------------------------------------------------------------------------------------------

def compute_stored(customer_ids: Sequence[int] | None = None) -> tuple[pl.DataFrame, pl.DataFrame]:
    """What CustomerMetrics and CustomerCategorySpend should hold, from the orders."""
    aggregates = engine_metrics.aggregate_orders(read_orders(customer_ids=customer_ids))
    spend = engine_metrics.category_spend(read_lines(customer_ids=customer_ids))
    counts = spend.group_by("customer_id").agg(pl.len().cast(pl.Int64).alias("categories"))
    aggregates = aggregates.join(counts, on="customer_id", how="left").with_columns(
        pl.col("categories").fill_null(0))
    return aggregates, spend


def _stored_rows() -> tuple[pl.DataFrame, pl.DataFrame]:
    """CustomerMetrics and CustomerCategorySpend as plain integers, to compare with a rebuild."""
    sql = (f"SELECT customer_id, {_epoch_us('first_order_at')}, {_epoch_us('last_order_at')}, frequency,"
           f" {_cents('monetary')}, interval_sq_sum, categories FROM {CustomerMetrics._meta.db_table}")
    metrics = _fetch(sql, [], dict.fromkeys(METRICS_KEYS, pl.Int64))
    sql = f"SELECT customer_id, category_id, {_cents('spend')}, lines FROM {CustomerCategorySpend._meta.db_table}"
    spend = _fetch(sql, [], dict.fromkeys(SPEND_KEYS, pl.Int64))
    return metrics, spend


METRICS_KEYS = ("customer_id", "first_us", "last_us", "frequency", "monetary_cents", "interval_sq_sum", "categories")
SPEND_KEYS = ("customer_id", "category", "spend_cents", "lines")


def _write_metrics(aggregates: pl.DataFrame, spend: pl.DataFrame, customer_ids: Sequence[int] | None) -> int:
    """Replace the stored metrics of `customer_ids` (or of everyone: then only rows that differ are written).

    Returns the number of rows written or deleted.
    """
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    metrics = aggregates.select(
        "customer_id", pl.col("first_order_at").dt.timestamp("us").alias("first_us"),
        pl.col("last_order_at").dt.timestamp("us").alias("last_us"),
        *(pl.col(c).cast(pl.Int64) for c in METRICS_KEYS[3:]),
    )
    spend = spend.select(*(pl.col(c).cast(pl.Int64) for c in SPEND_KEYS))
    metrics_table, spend_table = CustomerMetrics._meta.db_table, CustomerCategorySpend._meta.db_table
    with transaction.atomic():
        if customer_ids is None:
            old_metrics, old_spend = _stored_rows()
            stale_metrics = old_metrics.join(metrics, on=list(METRICS_KEYS), how="anti", nulls_equal=True)
            stale_spend = old_spend.join(spend, on=list(SPEND_KEYS), how="anti")
            metrics = metrics.join(old_metrics, on=list(METRICS_KEYS), how="anti", nulls_equal=True)
            spend = spend.join(old_spend, on=list(SPEND_KEYS), how="anti")
            with connection.cursor() as cursor:
                cursor.executemany(f"DELETE FROM {metrics_table} WHERE customer_id = %s",
                                   list(stale_metrics.select("customer_id").iter_rows()))
                cursor.executemany(f"DELETE FROM {spend_table} WHERE customer_id = %s AND category_id = %s",
                                   list(stale_spend.select("customer_id", "category").iter_rows()))
            changed = len(stale_metrics) + len(stale_spend) + len(metrics) + len(spend)
        else:
            _delete_customers(spend_table, customer_ids)
            _delete_customers(metrics_table, customer_ids)
            changed = len(metrics) + len(spend)
        rows = metrics.select(
            "customer_id", _datetime_text("first_us").alias("first"), _datetime_text("last_us").alias("last"),
            "frequency", _decimal_text("monetary_cents").alias("monetary"), "interval_sq_sum", "categories",
        )
        _insert(metrics_table, ["customer_id", "first_order_at", "last_order_at", "frequency", "monetary",
                                "interval_sq_sum", "categories", "updated_at"],
                ((*row, now) for row in rows.iter_rows()))
        _insert(spend_table, ["customer_id", "category_id", "spend", "lines"],
                spend.select("customer_id", "category", _decimal_text("spend_cents").alias("spend"), "lines")
                .iter_rows())
    return changed


def rebuild_metrics(progress: Progress = _noop) -> int:
    """Recompute CustomerMetrics and CustomerCategorySpend from all counted orders; returns customers.

    Rows that already hold the right numbers are left alone, so a nightly rebuild over metrics the
    signals kept current reads everything but writes next to nothing.
    """
    progress("读取订单")
    aggregates, spend = compute_stored()
    progress("写入客户指标")
    _write_metrics(aggregates, spend, None)
    return len(aggregates)


def refresh_customers(customer_ids: Iterable[int]) -> None:
    """Recompute the metrics of some customers (after bulk writes that bypass the signals)."""
    ids = sorted(set(customer_ids))
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        aggregates, spend = compute_stored(chunk)
        _write_metrics(aggregates, spend, chunk)


# --- classification -----------------------------------------------------------------------------------

def day_start(day: datetime.date) -> datetime.datetime:
    """Midnight at the start of `day` in the shop's time zone."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


@dataclass
class ClassResult:
    run: SegmentRun
    frame: pl.DataFrame   # one row per customer, every metric and class column


def _category_names(frame: pl.DataFrame) -> pl.DataFrame:
    if "top_category" not in frame.columns:
        return frame
    names = dict(Category.objects.values_list("id", "name"))
    return frame.with_columns(
        pl.col("top_category").replace_strict(names, default=None, return_dtype=pl.String))


def metrics_frame(as_of: datetime.date, thresholds: Thresholds, progress: Progress = _noop) -> pl.DataFrame:
    """Every customer with the engine's metrics as of `as_of` (buyers and those who never bought).

    Uses the maintained CustomerMetrics when they describe `as_of` (no counted order after that day and
    no F/M window); otherwise aggregates the orders up to `as_of` (a past date or a window).
    """
    end = day_start(as_of + datetime.timedelta(days=1))
    progress("读取客户指标")
    stored_ok = not thresholds.window_months and not Order.objects.completed().filter(ordered_at__gte=end).exists()
    if stored_ok:
        aggregates, spend = read_stored_metrics()
        categories = engine_metrics.category_summary(spend)
    else:
        orders = read_orders(until=end)
        aggregates = engine_metrics.aggregate_orders(orders)
        since = None
        if thresholds.window_months:
            since = day_start(engine_metrics.months_before(as_of, thresholds.window_months)
                              + datetime.timedelta(days=1))
            window = engine_metrics.aggregate_orders(orders.filter(pl.col("ordered_at") >= since))
            aggregates = aggregates.rename({"frequency": "lifetime_frequency"}).drop("monetary_cents").join(
                window.select("customer_id", "frequency", "monetary_cents"), on="customer_id", how="left",
            ).with_columns(pl.col("frequency").fill_null(0), pl.col("monetary_cents").fill_null(0))
        categories = engine_metrics.category_summary(engine_metrics.category_spend(read_lines(since, end)))
    progress("计算消费趋势")
    trend_since = day_start(engine_metrics.months_before(as_of, 2 * thresholds.trend_months)
                            + datetime.timedelta(days=1))
    trend = engine_metrics.trend_spend(read_orders(trend_since, end), as_of, thresholds.trend_months)
    derived = engine_metrics.derive_metrics(aggregates, as_of, categories=categories, trend=trend)
    everyone = _fetch(f"SELECT id FROM {Customer._meta.db_table}", [], {"customer_id": pl.Int64})
    frame = everyone.join(derived, on="customer_id", how="left")
    return _category_names(frame)


SEGMENT_COLUMNS = [
    "customer_id", "as_of", "recency_days", "tenure_days", "frequency", "monetary", "avg_order_value",
    "mean_interval_days", "std_interval_days", "spend_recent", "spend_previous", "trend", "r_score", "f_score",
    "m_score", "r_high", "f_high", "m_high", "rfm_class", "rf_segment", "abc_class", "frequency_tier",
    "value_tier", "lifecycle", "overdue", "category_loyalty",
]
SNAPSHOT_COLUMNS = ["as_of", "customer_id", "r_score", "f_score", "m_score", *CLASS_NAMES, "overdue"]


def _segment_rows(frame: pl.DataFrame, as_of_text) -> pl.DataFrame:
    text = ["trend", "rfm_class", "rf_segment", "abc_class", "frequency_tier", "value_tier", "lifecycle",
            "category_loyalty"]
    return frame.with_columns(
        pl.lit(as_of_text).alias("as_of"),
        pl.col("frequency").fill_null(0),
        _decimal_text("monetary_cents").fill_null("0.00").alias("monetary"),
        (pl.col("avg_order_value") * 100).round(0).cast(pl.Int64).alias("_aov"),
        _decimal_text("spend_recent_cents").fill_null("0.00").alias("spend_recent"),
        _decimal_text("spend_previous_cents").fill_null("0.00").alias("spend_previous"),
        *(pl.col(c).fill_null("") for c in text),
        pl.col("overdue").fill_null(False),
    ).with_columns(_decimal_text("_aov").alias("avg_order_value")).select(SEGMENT_COLUMNS)


def _snapshot_rows(frame: pl.DataFrame, as_of_text) -> pl.DataFrame:
    codes = [
        pl.col(column).fill_null("").replace_strict(
            ["", *names], list(range(len(names) + 1)), return_dtype=pl.Int16).alias(column)
        for column, names in CLASS_NAMES.items()
    ]
    return frame.select(pl.lit(as_of_text).alias("as_of"), "customer_id", "r_score", "f_score", "m_score", *codes,
                        pl.col("overdue").fill_null(False))


def _counts(frame: pl.DataFrame) -> dict:
    """{column: {class: [customers, spend in yuan]}} in the classes' own order (empty class = "")."""
    counts = {}
    for column, names in CLASS_NAMES.items():
        grouped = frame.group_by(pl.col(column).fill_null("")).agg(
            pl.len().alias("n"), pl.col("monetary_cents").fill_null(0).sum().alias("m"))
        found = {row[0]: [int(row[1]), int(row[2]) / 100] for row in grouped.iter_rows()}
        counts[column] = {name: found.get(name, [0, 0.0]) for name in [*names, ""] if name in found or name}
    return counts


def classify_all(as_of: datetime.date | None = None, thresholds: Thresholds | None = None,
                 progress: Progress = _noop) -> ClassResult:
    """Classify every customer as of a day (default today): CustomerSegment, a snapshot and a SegmentRun."""
    started = time.perf_counter()
    as_of = as_of or today()
    thresholds = thresholds or SegmentSettings.load()
    frame = metrics_frame(as_of, thresholds, progress)
    progress("分类")
    classified, refs = classify(frame, thresholds)
    progress("写入分层结果")
    as_of_text = connection.ops.adapt_datefield_value(as_of)
    segments = _segment_rows(classified, as_of_text)
    snapshot = _snapshot_rows(classified, as_of_text)
    with transaction.atomic():
        _delete_customers(CustomerSegment._meta.db_table, None)
        _insert(CustomerSegment._meta.db_table, SEGMENT_COLUMNS, segments.iter_rows())
        SegmentSnapshot.objects.filter(as_of=as_of).delete()
        _insert(SegmentSnapshot._meta.db_table, SNAPSHOT_COLUMNS, snapshot.iter_rows())
        run, _ = SegmentRun.objects.update_or_create(as_of=as_of, defaults={
            "thresholds": thresholds.to_dict(), "references": refs.to_dict(), "counts": _counts(classified),
            "customers": len(classified), "seconds": round(time.perf_counter() - started, 3),
        })
    return ClassResult(run, classified)


def refresh(as_of: datetime.date | None = None, full: bool = False, progress: Progress = _noop) -> ClassResult:
    """What `kehu segment` does: optionally rebuild the metrics, then classify everyone."""
    if full:
        rebuild_metrics(progress)
    return classify_all(as_of, progress=progress)


# --- movement -----------------------------------------------------------------------------------------

def _snapshot_codes(day: datetime.date, column: str) -> pl.DataFrame:
    if column not in CLASS_NAMES:
        raise ValueError(f"不能按 {column} 比较")
    sql = f"SELECT customer_id, {column} FROM {SegmentSnapshot._meta.db_table} WHERE as_of = %s"
    return _fetch(sql, [connection.ops.adapt_datefield_value(day)], {"customer_id": pl.Int64, "code": pl.Int64})


NO_CLASS = "（无）"


def migration_matrix(from_date: datetime.date, to_date: datetime.date,
                     column: str = "rfm_class") -> dict[str, dict[str, int]]:
    """{from class: {to class: customers}} between two snapshots; NO_CLASS for no class / not there."""
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
    was = SegmentSnapshot.objects.filter(as_of=from_date, **{column: class_code(column, from_class)})
    now = SegmentSnapshot.objects.filter(as_of=to_date, **{column: class_code(column, to_class)},
                                         customer_id__in=was.values("customer_id"))
    return Customer.objects.filter(id__in=now.values("customer_id"))


def snapshot_dates() -> list[datetime.date]:
    return list(SegmentRun.objects.order_by("as_of").values_list("as_of", flat=True))
