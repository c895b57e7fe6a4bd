"""Per-customer purchase metrics (客户指标) from a table of orders.

Pure functions over data frames, written with Narwhals so the same code runs on Polars today and on
another backend (Spark, DuckDB…) later. Nothing here imports Django.

Input tables
------------
``orders``: one row per *counted* order (refunds already left out), columns
    ``customer_id`` (int), ``ordered_at`` (datetime; tz-aware, in the shop's zone, or naive local),
    and either ``amount`` (yuan; float or decimal) or ``amount_cents`` (int); optionally ``category``
    (the order's category, used when no ``lines`` table is given).
``lines``: optional, one row per order line of a counted order: ``customer_id``, ``category``,
    and ``amount`` or ``amount_cents``. Lines without a category are ignored.

Money is rounded to whole cents (分) first and kept as integers, so sums are exact and rankings do not
depend on float noise. Days are calendar days in the zone of ``ordered_at``.

The numbers split in two stages, matching what kehu stores:

* :func:`aggregate_orders` — what can be kept current order by order (first/last order time, F, M in
  cents, and the sum of squared gaps between consecutive orders in whole seconds);
* :func:`derive_metrics` — what depends on the analysis date (recency, tenure) or is a ratio of the
  stored numbers (average order value, mean purchase interval and its standard deviation).
"""

from __future__ import annotations

import datetime
from typing import Any

import narwhals as nw

EPOCH_DAY = datetime.date(1970, 1, 1)
SECONDS_PER_DAY = 86_400
US_PER_SECOND = 1_000_000

AGGREGATE_COLUMNS = (
    "customer_id", "first_order_at", "last_order_at", "frequency", "monetary_cents", "interval_sq_sum",
    "purchase_days", "first_day_cents",
)
CATEGORY_COLUMNS = ("customer_id", "categories", "category_cents", "top_category", "top_category_cents")


def day_number(day: datetime.date) -> int:
    """Days since 1970-01-01 (how dates are compared inside the engine)."""
    return (day - EPOCH_DAY).days


def months_before(day: datetime.date, months: int) -> datetime.date:
    """The same day `months` calendar months earlier (clamped to the month's last day)."""
    total = day.year * 12 + (day.month - 1) - months
    year, month = divmod(total, 12)
    month += 1
    for d in (day.day, 30, 29, 28):
        try:
            return datetime.date(year, month, min(d, day.day))
        except ValueError:
            continue
    raise ValueError(day)  # pragma: no cover


def cents(frame: nw.DataFrame, name: str = "amount_cents") -> nw.Expr:
    """Money as integer cents: `amount_cents` as given, or `amount` (yuan) rounded to the cent."""
    if name in frame.columns:
        return nw.col(name).cast(nw.Int64)
    return (nw.col("amount").cast(nw.Float64) * 100).round(0).cast(nw.Int64)


def line_cents(quantity_hundredths: nw.Expr, unit_price_cents: nw.Expr) -> nw.Expr:
    """quantity × unit price rounded to the cent half-to-even, as Python's Decimal.quantize does.

    Both inputs are integers in hundredths, so the product is in 1/10000 yuan and exact.
    """
    product = quantity_hundredths.cast(nw.Int64) * unit_price_cents.cast(nw.Int64)
    whole = product // 100
    rest = product - whole * 100
    return (
        nw.when(rest > 50).then(whole + 1)
        .when((rest == 50) & (whole % 2 == 1)).then(whole + 1)
        .otherwise(whole)
    )


def _with_time_columns(orders: nw.DataFrame, *, day: bool = True) -> nw.DataFrame:
    columns = {"_cents": cents(orders), "_second": nw.col("ordered_at").dt.timestamp("us") // US_PER_SECOND}
    if day:
        columns["_day"] = nw.col("ordered_at").dt.date().cast(nw.Int32)
    return orders.with_columns(**columns)


def select_period(orders: Any, as_of: datetime.date, window_months: int | None = None) -> Any:
    """Orders on or before `as_of` (local calendar day), and after the window's start if one is given."""
    frame = nw.from_native(orders, eager_only=True)
    day = nw.col("ordered_at").dt.date().cast(nw.Int32)
    keep = day <= day_number(as_of)
    if window_months:
        keep = keep & (day > day_number(months_before(as_of, window_months)))
    return frame.filter(keep).to_native()


def _sort_by_customer_and_second(frame: nw.DataFrame) -> nw.DataFrame:
    """Sorted by customer, then second: on one packed integer key when it fits (twice as fast as two keys).

    Orders of one customer in the same second may come in any order; nothing computed from the
    sorted rows depends on that.
    """
    if len(frame):
        low, high = frame["_second"].min(), frame["_second"].max()
        first, last = frame["customer_id"].min(), frame["customer_id"].max()
        if high - low < 2**32 and first >= 0 and last < 2**31:
            key = nw.col("customer_id").cast(nw.Int64) * 2**32 + (nw.col("_second") - low)
            return frame.with_columns(_key=key).sort("_key").drop("_key")
    return frame.sort("customer_id", "_second")


def aggregate_orders(orders: Any) -> Any:
    """The stored part of the metrics, one row per customer with at least one order.

    `purchase_days` is the number of distinct (local) days with an order and `first_day_cents` what was
    spent on the first of them: with first/last order, F and M they give the churn and value models'
    summary (repeat purchases on distinct days, the mean value of the repeat purchases).
    `interval_sq_sum` is Σ (t[i] − t[i−1])² over the customer's orders sorted by time, with t in whole
    seconds since the epoch: with first/last time and F it gives the mean gap and its spread, and it
    can be kept current when one order is added or removed (only its two neighbours matter).
    """
    frame = _sort_by_customer_and_second(_with_time_columns(nw.from_native(orders, eager_only=True)))
    # One sort, then each row compared with the previous row of the same customer (no window function):
    # the gap in seconds, and whether it starts a new purchase day. Days follow seconds in that order,
    # so the customer's first day is the day of their first row, carried forward.
    same = (nw.col("customer_id") == nw.col("customer_id").shift(1)).fill_null(False)
    new_day = ~same | (nw.col("_day") != nw.col("_day").shift(1)).fill_null(True)
    first_day = nw.when(~same).then(nw.col("_day")).otherwise(None).fill_null(strategy="forward")
    gaps = frame.with_columns(
        _gap=nw.when(same).then(nw.col("_second") - nw.col("_second").shift(1)),
        _new_day=new_day.cast(nw.Int64),
        _first_day_cents=nw.when(nw.col("_day") == first_day).then(nw.col("_cents")).otherwise(0),
    )
    out = gaps.group_by("customer_id").agg(
        nw.col("ordered_at").min().alias("first_order_at"),
        nw.col("ordered_at").max().alias("last_order_at"),
        nw.len().cast(nw.Int64).alias("frequency"),
        nw.col("_cents").sum().cast(nw.Int64).alias("monetary_cents"),
        (nw.col("_gap") * nw.col("_gap")).sum().cast(nw.Int64).alias("interval_sq_sum"),
        nw.col("_new_day").sum().cast(nw.Int64).alias("purchase_days"),
        nw.col("_first_day_cents").sum().cast(nw.Int64).alias("first_day_cents"),
    )
    return out.with_columns(nw.col("interval_sq_sum").fill_null(0)).to_native()


def category_spend(lines: Any) -> Any:
    """Spend per (customer, category) in cents, and how many lines made it: what kehu stores."""
    frame = nw.from_native(lines, eager_only=True)
    frame = frame.filter(~nw.col("category").is_null()).with_columns(_cents=cents(frame))
    return (
        frame.group_by("customer_id", "category")
        .agg(nw.col("_cents").sum().cast(nw.Int64).alias("spend_cents"), nw.len().cast(nw.Int64).alias("lines"))
        .to_native()
    )


def category_summary(spend: Any) -> Any:
    """From per-category spend: number of categories, categorised spend, and the top category.

    The top category is the one with the most spend; on a tie, the smallest category key.
    """
    frame = nw.from_native(spend, eager_only=True)
    totals = frame.group_by("customer_id").agg(
        nw.len().cast(nw.Int64).alias("categories"),
        nw.col("spend_cents").sum().cast(nw.Int64).alias("category_cents"),
    )
    best = frame.filter(nw.col("spend_cents") == nw.col("spend_cents").max().over("customer_id"))
    top = best.group_by("customer_id").agg(
        nw.col("category").min().alias("top_category"),
        nw.col("spend_cents").max().alias("top_category_cents"),
    )
    return totals.join(top, on="customer_id", how="left").to_native()


def trend_spend(orders: Any, as_of: datetime.date, months: int) -> Any:
    """Spend in the last `months` months up to `as_of` and in the `months` before that, in cents."""
    frame = _with_time_columns(nw.from_native(orders, eager_only=True))
    end = day_number(as_of)
    mid = day_number(months_before(as_of, months))
    start = day_number(months_before(as_of, 2 * months))
    recent = (nw.col("_day") > mid) & (nw.col("_day") <= end)
    previous = (nw.col("_day") > start) & (nw.col("_day") <= mid)
    return (
        frame.filter((nw.col("_day") > start) & (nw.col("_day") <= end))
        .group_by("customer_id")
        .agg(
            nw.when(recent).then(nw.col("_cents")).otherwise(0).sum().cast(nw.Int64).alias("spend_recent_cents"),
            nw.when(previous).then(nw.col("_cents")).otherwise(0).sum().cast(nw.Int64)
            .alias("spend_previous_cents"),
        )
        .to_native()
    )


def derive_metrics(aggregates: Any, as_of: datetime.date, *, categories: Any = None, trend: Any = None) -> Any:
    """Add the analysis-date and ratio columns to the stored aggregates.

    Adds ``monetary`` and ``avg_order_value`` (yuan), ``recency_days`` and ``tenure_days`` (calendar days
    from the last / first order to `as_of`), ``mean_interval_days`` and ``std_interval_days`` (sample
    standard deviation of the gaps; null below two and three orders respectively), and, when given,
    the category summary and trend columns (zero / null where a customer has none).
    """
    frame = nw.from_native(aggregates, eager_only=True)
    today = day_number(as_of)
    # In a window, F counts the window's orders; the purchase rhythm still uses the whole history.
    orders = nw.col("lifetime_frequency") if "lifetime_frequency" in frame.columns else nw.col("frequency")
    n_gaps = (orders - 1).cast(nw.Float64)
    span = ((nw.col("last_order_at").dt.timestamp("us") // US_PER_SECOND)
            - (nw.col("first_order_at").dt.timestamp("us") // US_PER_SECOND)).cast(nw.Float64)
    mean_gap = span / n_gaps
    variance = (nw.col("interval_sq_sum").cast(nw.Float64) - span * span / n_gaps) / (n_gaps - 1)
    frame = frame.with_columns(
        monetary=nw.col("monetary_cents").cast(nw.Float64) / 100,
        avg_order_value=nw.when(nw.col("frequency") > 0)
        .then((nw.col("monetary_cents").cast(nw.Float64) / nw.col("frequency") / 100).round(2)),
        recency_days=(today - nw.col("last_order_at").dt.date().cast(nw.Int32)).cast(nw.Int64),
        tenure_days=(today - nw.col("first_order_at").dt.date().cast(nw.Int32)).cast(nw.Int64),
        mean_interval_days=nw.when(orders >= 2).then(mean_gap / SECONDS_PER_DAY),
        std_interval_days=nw.when(orders >= 3)
        .then(variance.clip(lower_bound=0).sqrt() / SECONDS_PER_DAY),
    )
    if categories is not None:
        cats = nw.from_native(categories, eager_only=True)
        frame = frame.join(cats, on="customer_id", how="left").with_columns(
            nw.col("categories").fill_null(0), nw.col("category_cents").fill_null(0),
        )
    if trend is not None:
        tr = nw.from_native(trend, eager_only=True)
        frame = frame.join(tr, on="customer_id", how="left").with_columns(
            nw.col("spend_recent_cents").fill_null(0), nw.col("spend_previous_cents").fill_null(0),
        )
    return frame.sort("customer_id").to_native()


def compute_metrics(
    orders: Any,
    as_of: datetime.date,
    *,
    lines: Any = None,
    trend_months: int = 3,
    window_months: int | None = None,
) -> Any:
    """Everything at once, from orders (and optionally lines) as of a date; one row per buying customer.

    Orders after `as_of` are left out. With `window_months`, F and M (and categories, when they come
    from the orders' own `category`) count only the orders of the last `window_months` months, while
    first/last order and the purchase rhythm still look at the whole history; a customer who bought
    before the window but not in it has F = 0. A separate `lines` table is used as given.
    """
    everything = select_period(orders, as_of)
    aggregates = nw.from_native(aggregate_orders(everything), eager_only=True)
    if window_months:
        window = aggregate_orders(select_period(orders, as_of, window_months))
        window = nw.from_native(window, eager_only=True).select("customer_id", "frequency", "monetary_cents")
        aggregates = (
            aggregates.rename({"frequency": "lifetime_frequency"}).drop("monetary_cents")
            .join(window, on="customer_id", how="left")
            .with_columns(nw.col("frequency").fill_null(0), nw.col("monetary_cents").fill_null(0))
        )
    if lines is None and "category" in nw.from_native(orders, eager_only=True).columns:
        lines = select_period(orders, as_of, window_months)
    categories = category_summary(category_spend(lines)) if lines is not None else None
    trend = trend_spend(everything, as_of, trend_months)
    return derive_metrics(aggregates.to_native(), as_of, categories=categories, trend=trend)
