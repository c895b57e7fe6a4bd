"""The customer-base summary (x, t_x, T, monetary value) that the BG/NBD, Pareto/NBD and Gamma-Gamma models need.

Written with Narwhals so the same code runs over a Polars DataFrame or LazyFrame today and over a
DuckDB- or Spark-backed frame later. Conventions (Fader, Hardie & Lee):

- a *purchase* is a customer's purchase day: several transactions on the same day count as one,
  and their amounts are added up;
- ``frequency`` (x) is the number of repeat purchases: distinct purchase days minus one;
- ``recency`` (t_x) is the time from the first to the last purchase day;
- ``T`` is the time from the first purchase day to the as-of date;
- ``monetary_value`` is the mean value of the *repeat* purchases (the first purchase is excluded);
  it is 0.0 for a customer with no repeat purchase (the Gamma-Gamma model then ignores it).

Times are in the stated unit: ``"days"`` or ``"weeks"`` (a week is 7 days, so recency and T can be
fractional).
"""

from __future__ import annotations

import datetime
from typing import Any, Literal, TypeVar

import narwhals.stable.v2 as nw

TimeUnit = Literal["days", "weeks"]
UNIT_DAYS: dict[str, float] = {"days": 1.0, "weeks": 7.0}

SUMMARY_COLUMNS = ("frequency", "recency", "T", "monetary_value")

FrameT = TypeVar("FrameT")

_MINUTES_PER_DAY = 1440.0


def unit_days(time_unit: str) -> float:
    """Length of one time unit in days (``"days"`` → 1, ``"weeks"`` → 7)."""
    try:
        return UNIT_DAYS[time_unit]
    except KeyError:
        raise ValueError(f"time_unit must be 'days' or 'weeks', not {time_unit!r}") from None


def _local_date(frame: Any, column: str) -> Any:
    """The calendar day of a date or datetime column; for a zone-aware datetime, the day in its zone."""
    dtype = frame.collect_schema()[column] if hasattr(frame, "collect_schema") else frame.schema[column]
    return nw.col(column).dt.date() if isinstance(dtype, nw.Datetime) else nw.col(column).cast(nw.Date)


def build_summary(
    transactions: FrameT,
    *,
    as_of: datetime.date,
    time_unit: TimeUnit = "days",
    start: datetime.date | None = None,
    customer_col: str = "customer_id",
    date_col: str = "date",
    amount_col: str | None = "amount",
) -> FrameT:
    """Summarise a transactions table into one row per customer: frequency, recency, T, monetary_value.

    ``transactions`` has a customer column, a date or datetime column (a datetime is cut to its
    date, in its own time zone when it has one) and, optionally, an amount column. Only
    transactions on days ``start <= day <= as_of`` count (``start`` defaults to no lower bound),
    so a calibration period is ``start=..., as_of=...``.
    Rows with a null customer or date are ignored; a null amount counts as 0.

    Returns a frame of the same kind as the input (a Polars LazyFrame in gives a LazyFrame out),
    sorted by customer, with columns ``customer_col, frequency, recency, T`` and, when
    ``amount_col`` is given, ``monetary_value``. ``frequency`` is an integer; the others are floats
    in ``time_unit`` (or in money for ``monetary_value``).
    """
    if isinstance(as_of, datetime.datetime):
        as_of = as_of.date()
    if isinstance(start, datetime.datetime):
        start = start.date()
    per_unit = unit_days(time_unit) * _MINUTES_PER_DAY

    frame = nw.from_native(transactions)
    eager = isinstance(frame, nw.DataFrame)
    if eager:
        frame = frame.lazy()  # one optimised query plan: about half the work of running it step by step
    day = _local_date(frame, date_col)
    in_period = day <= nw.lit(as_of, dtype=nw.Date)
    if start is not None:
        in_period = in_period & (day >= nw.lit(start, dtype=nw.Date))

    amount = nw.col(amount_col).fill_null(0).cast(nw.Float64) if amount_col else nw.lit(0.0)
    days = (
        frame.drop_nulls(subset=[customer_col, date_col])
        .filter(in_period)
        .with_columns(day.alias("_day"), amount.alias("_amount"))
        .group_by(customer_col, "_day")
        .agg(nw.col("_amount").sum())
        .with_columns(nw.col("_day").min().over(customer_col).alias("_first_day"))
        .with_columns(
            nw.when(nw.col("_day") == nw.col("_first_day"))
            .then(nw.col("_amount"))
            .otherwise(0.0)
            .alias("_first_amount")
        )
    )
    per_customer = days.group_by(customer_col).agg(
        nw.col("_day").min().alias("_first"),
        nw.col("_day").max().alias("_last"),
        nw.len().alias("_days"),
        nw.col("_amount").sum().alias("_total"),
        nw.col("_first_amount").sum().alias("_first_total"),
    )
    frequency = (nw.col("_days") - 1).cast(nw.Int64)
    columns: list[Any] = [
        frequency.alias("frequency"),
        ((nw.col("_last") - nw.col("_first")).dt.total_minutes() / per_unit).alias("recency"),
        ((nw.lit(as_of, dtype=nw.Date) - nw.col("_first")).dt.total_minutes() / per_unit).alias("T"),
    ]
    if amount_col:
        repeat_mean = (nw.col("_total") - nw.col("_first_total")) / (nw.col("_days") - 1)
        columns.append(nw.when(nw.col("_days") > 1).then(repeat_mean).otherwise(0.0).alias("monetary_value"))
    summary = per_customer.select(nw.col(customer_col), *columns).sort(customer_col)
    return (summary.collect() if eager else summary).to_native()


def summary_from_metrics(
    metrics: FrameT,
    *,
    as_of: datetime.date,
    time_unit: TimeUnit = "days",
    customer_col: str = "customer_id",
) -> FrameT:
    """The same summary as :func:`build_summary`, from per-customer metrics instead of transactions.

    ``metrics`` has one row per buying customer with ``first_order_at`` and ``last_order_at``
    (datetimes in the shop's zone, or dates) or ``first_day`` and ``last_day`` (local days since 1970-01-01),
    ``purchase_days`` (distinct purchase days),
    ``monetary_cents`` (total spend in cents) and ``first_day_cents`` (spend on the first purchase
    day) — what :func:`kehu.segments.engine.metrics.aggregate_orders` gives and kehu keeps current
    order by order — so the models can be fitted without reading the orders again. Money comes out
    in yuan.
    """
    if isinstance(as_of, datetime.datetime):
        as_of = as_of.date()
    per_unit = unit_days(time_unit) * _MINUTES_PER_DAY
    frame = nw.from_native(metrics)
    schema = frame.collect_schema() if hasattr(frame, "collect_schema") else frame.schema
    if "first_day" in schema and "last_day" in schema:
        # Local day numbers (days since 1970-01-01, as the engine's aggregates have them): plain integers on
        # any backend, in minutes as below so the floats are the same.
        first, last = nw.col("first_day").cast(nw.Int64), nw.col("last_day").cast(nw.Int64)
        today = (as_of - datetime.date(1970, 1, 1)).days
        recency = (last - first) * 1440 / per_unit
        age = (today - first) * 1440 / per_unit
    else:
        first, last = _local_date(frame, "first_order_at"), _local_date(frame, "last_order_at")
        recency = (last - first).dt.total_minutes() / per_unit
        age = (nw.lit(as_of, dtype=nw.Date) - first).dt.total_minutes() / per_unit
    repeats = nw.col("purchase_days").cast(nw.Int64) - 1
    repeat_spend = (nw.col("monetary_cents") - nw.col("first_day_cents")).cast(nw.Float64) / 100
    summary = frame.select(
        nw.col(customer_col),
        repeats.alias("frequency"),
        recency.alias("recency"),
        age.alias("T"),
        nw.when(repeats > 0).then(repeat_spend / repeats).otherwise(0.0).alias("monetary_value"),
    )
    return summary.sort(customer_col).to_native()
