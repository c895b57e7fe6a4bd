"""Per-customer purchase metrics (客户指标) from a table of orders.

Pure functions over data frames, written against Narwhals' lazy frames so the same code runs on Polars
(eager or lazy), DuckDB and PySpark: a function given an eager frame returns an eager frame of the same
library, a lazy one (a Polars LazyFrame, a DuckDB relation, a Spark DataFrame) a lazy one. Work that
depends on row order goes through windows with an explicit order (``over(..., order_by=...)``), never a
sort followed by ``shift``. Nothing here imports Django.

Input tables
------------
``orders``: one row per *counted* order (refunds already left out), columns ``customer_id`` (int), the
    order's time, and either ``amount`` (yuan; float or decimal) or ``amount_cents`` (int); optionally
    ``category`` (the order's category, used when no ``lines`` table is given). The time is either

    * ``ordered_us`` (int, microseconds since 1970-01-01 UTC) and ``order_day`` (int, the local calendar
      day as days since 1970-01-01): what any backend can compute with, or
    * ``ordered_at`` (datetime; tz-aware, in the shop's zone, or naive local), turned into the two
      columns above on entry (Polars; Spark and DuckDB read time zones from their session).

``lines``: optional, one row per order line of a counted order: ``customer_id``, ``category``,
    and ``amount`` or ``amount_cents``. Lines without a category are ignored.

Money is rounded to whole cents (分) first and kept as integers, so sums are exact and rankings do not
depend on float noise; ratios of cents are rounded half-to-even in integers. Days are calendar days in
the shop's zone (of ``ordered_at``, or as given in ``order_day``).

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
# The first and last order as the engine computes with them: UTC microseconds and local day numbers.
EPOCH_COLUMNS = ("first_us", "last_us", "first_day", "last_day")
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


# --- frames in and out ------------------------------------------------------------------------------------

def lazy(native: Any) -> tuple[nw.LazyFrame, bool]:
    """(the frame as a Narwhals LazyFrame, whether it came in eager)."""
    frame = nw.from_native(native)
    if isinstance(frame, nw.DataFrame):
        return frame.lazy(), True
    return frame, False


def result(frame: nw.LazyFrame, eager: bool) -> Any:
    """The native frame to hand back: collected when the input was eager."""
    return (frame.collect() if eager else frame).to_native()


def names(frame: nw.LazyFrame) -> list[str]:
    return frame.collect_schema().names()


# --- money --------------------------------------------------------------------------------------------------

def half_even(numerator: nw.Expr, denominator: nw.Expr) -> nw.Expr:
    """numerator / denominator rounded half-to-even, in integers (both integer expressions, denominator > 0)."""
    whole = numerator // denominator
    twice_rest = (numerator - whole * denominator) * 2
    up = (twice_rest > denominator) | ((twice_rest == denominator) & (whole % 2 == 1))
    return nw.when(up).then(whole + 1).otherwise(whole)


def cents(columns: list[str], name: str = "amount_cents") -> nw.Expr:
    """Money as integer cents: `amount_cents` when among `columns`, or `amount` (yuan) rounded half-to-even."""
    if name in columns:
        return nw.col(name).cast(nw.Int64)
    hundredths = nw.col("amount").cast(nw.Float64) * 100
    floor = hundredths.floor()
    rest = hundredths - floor
    up = (rest > 0.5) | ((rest == 0.5) & (floor % 2 == 1))
    return nw.when(up).then(floor + 1).otherwise(floor).cast(nw.Int64)


def line_cents(quantity_hundredths: nw.Expr, unit_price_cents: nw.Expr) -> nw.Expr:
    """quantity × unit price rounded to the cent half-to-even, as Python's Decimal.quantize does.

    Both inputs are integers in hundredths, so the product is in 1/10000 yuan and exact.
    """
    product = quantity_hundredths.cast(nw.Int64) * unit_price_cents.cast(nw.Int64)
    return half_even(product, nw.lit(100))


# --- time ---------------------------------------------------------------------------------------------------

def with_epoch(frame: nw.LazyFrame) -> nw.LazyFrame:
    """The orders with ``ordered_us`` and ``order_day`` (from ``ordered_at`` when they are not given)."""
    columns = names(frame)
    if "ordered_us" in columns and "order_day" in columns:
        return frame
    moment = nw.col("ordered_at")
    return frame.with_columns(ordered_us=moment.dt.timestamp("us"), order_day=moment.dt.date().cast(nw.Int32))


def _with_time_columns(orders: nw.LazyFrame) -> nw.LazyFrame:
    frame = with_epoch(orders)
    return frame.with_columns(
        _cents=cents(names(frame)), _us=nw.col("ordered_us").cast(nw.Int64),
        _second=nw.col("ordered_us").cast(nw.Int64) // US_PER_SECOND, _day=nw.col("order_day").cast(nw.Int64),
    )


def _period(orders: nw.LazyFrame, as_of: datetime.date, window_months: int | None = None) -> nw.LazyFrame:
    day = nw.col("order_day")
    keep = day <= day_number(as_of)
    if window_months:
        keep = keep & (day > day_number(months_before(as_of, window_months)))
    return with_epoch(orders).filter(keep)


def select_period(orders: Any, as_of: datetime.date, window_months: int | None = None) -> Any:
    """Orders on or before `as_of` (local calendar day), and after the window's start if one is given.

    The result has ``ordered_us`` and ``order_day`` besides the columns given."""
    frame, eager = lazy(orders)
    return result(_period(frame, as_of, window_months), eager)


# --- the stored aggregates ---------------------------------------------------------------------------------

def _aggregate(orders: nw.LazyFrame) -> nw.LazyFrame:
    frame = _with_time_columns(orders)
    has_datetime = "ordered_at" in names(frame)
    # Each order against the customer's previous one in time (orders in the same second may come in any
    # order: the gaps are the same), and the customer's first day.
    frame = frame.with_columns(
        _previous=nw.col("_second").shift(1).over("customer_id", order_by="_us"),
        _first_day=nw.col("_day").min().over("customer_id"),
    ).with_columns(
        _gap_sq=(nw.col("_second") - nw.col("_previous")) * (nw.col("_second") - nw.col("_previous")),
        _first_day_cents=nw.when(nw.col("_day") == nw.col("_first_day")).then(nw.col("_cents")).otherwise(0),
    )
    out = frame.group_by("customer_id").agg(
        *((nw.col("ordered_at").min().alias("first_order_at"), nw.col("ordered_at").max().alias("last_order_at"))
          if has_datetime else ()),
        nw.col("_us").min().alias("first_us"),
        nw.col("_us").max().alias("last_us"),
        nw.col("_day").min().alias("first_day"),
        nw.col("_day").max().alias("last_day"),
        nw.len().alias("frequency"),
        nw.col("_cents").sum().alias("monetary_cents"),
        nw.col("_gap_sq").sum().alias("interval_sq_sum"),
        nw.col("_day").n_unique().alias("purchase_days"),
        nw.col("_first_day_cents").sum().alias("first_day_cents"),
    )
    integers = ("frequency", "monetary_cents", "interval_sq_sum", "purchase_days", "first_day_cents",
                *EPOCH_COLUMNS)
    return out.with_columns(nw.col(c).cast(nw.Int64) for c in integers).with_columns(
        nw.col("interval_sq_sum").fill_null(0))


def aggregate_orders(orders: Any) -> Any:
    """The stored part of the metrics, one row per customer with at least one order.

    Columns: ``first_us``/``last_us`` and ``first_day``/``last_day`` (:data:`EPOCH_COLUMNS`), and
    ``first_order_at``/``last_order_at`` when the orders have ``ordered_at``; ``frequency``, ``monetary_cents``;
    `purchase_days` is the number of distinct (local) days with an order and `first_day_cents` what was
    spent on the first of them: with first/last order, F and M they give the churn and value models'
    summary (repeat purchases on distinct days, the mean value of the repeat purchases).
    `interval_sq_sum` is Σ (t[i] − t[i−1])² over the customer's orders sorted by time, with t in whole
    seconds since the epoch: with first/last time and F it gives the mean gap and its spread, and it
    can be kept current when one order is added or removed (only its two neighbours matter).
    """
    frame, eager = lazy(orders)
    return result(_aggregate(frame), eager)


def _category_spend(lines: nw.LazyFrame) -> nw.LazyFrame:
    frame = lines.filter(~nw.col("category").is_null()).with_columns(_cents=cents(names(lines)))
    return frame.group_by("customer_id", "category").agg(
        nw.col("_cents").sum().cast(nw.Int64).alias("spend_cents"), nw.len().cast(nw.Int64).alias("lines"))


def category_spend(lines: Any) -> Any:
    """Spend per (customer, category) in cents, and how many lines made it: what kehu stores."""
    frame, eager = lazy(lines)
    return result(_category_spend(frame), eager)


def _category_summary(spend: nw.LazyFrame) -> nw.LazyFrame:
    totals = spend.group_by("customer_id").agg(
        nw.len().cast(nw.Int64).alias("categories"),
        nw.col("spend_cents").sum().cast(nw.Int64).alias("category_cents"),
    )
    best = spend.with_columns(_best=nw.col("spend_cents").max().over("customer_id")).filter(
        nw.col("spend_cents") == nw.col("_best"))
    top = best.group_by("customer_id").agg(
        nw.col("category").min().alias("top_category"),
        nw.col("spend_cents").max().cast(nw.Int64).alias("top_category_cents"),
    )
    return totals.join(top, on="customer_id", how="left")


def category_summary(spend: Any) -> Any:
    """From per-category spend: number of categories, categorised spend, and the top category.

    The top category is the one with the most spend; on a tie, the smallest category key.
    """
    frame, eager = lazy(spend)
    return result(_category_summary(frame), eager)


def _trend(orders: nw.LazyFrame, as_of: datetime.date, months: int) -> nw.LazyFrame:
    frame = _with_time_columns(orders)
    end = day_number(as_of)
    mid = day_number(months_before(as_of, months))
    start = day_number(months_before(as_of, 2 * months))
    recent = (nw.col("_day") > mid) & (nw.col("_day") <= end)
    return (
        frame.filter((nw.col("_day") > start) & (nw.col("_day") <= end))
        .with_columns(_recent=nw.when(recent).then(nw.col("_cents")).otherwise(0),
                      _previous=nw.when(~recent).then(nw.col("_cents")).otherwise(0))
        .group_by("customer_id")
        .agg(nw.col("_recent").sum().cast(nw.Int64).alias("spend_recent_cents"),
             nw.col("_previous").sum().cast(nw.Int64).alias("spend_previous_cents"))
    )


def trend_spend(orders: Any, as_of: datetime.date, months: int) -> Any:
    """Spend in the last `months` months up to `as_of` and in the `months` before that, in cents."""
    frame, eager = lazy(orders)
    return result(_trend(frame, as_of, months), eager)


# --- the analysis date ---------------------------------------------------------------------------------------

def _with_epoch_aggregates(frame: nw.LazyFrame) -> tuple[nw.LazyFrame, list[str]]:
    """The aggregates with :data:`EPOCH_COLUMNS` (from ``first_order_at``/``last_order_at`` when missing),
    and the names of the columns added here (dropped again at the end)."""
    if set(EPOCH_COLUMNS) <= set(names(frame)):
        return frame, []
    first, last = nw.col("first_order_at"), nw.col("last_order_at")
    return frame.with_columns(
        first_us=first.dt.timestamp("us"), last_us=last.dt.timestamp("us"),
        first_day=first.dt.date().cast(nw.Int32), last_day=last.dt.date().cast(nw.Int32),
    ), list(EPOCH_COLUMNS)


def _derive(frame: nw.LazyFrame, as_of: datetime.date, categories: nw.LazyFrame | None,
            trend: nw.LazyFrame | None) -> nw.LazyFrame:
    frame, added = _with_epoch_aggregates(frame)
    today = day_number(as_of)
    # In a window, F counts the window's orders; the purchase rhythm still uses the whole history.
    orders = nw.col("lifetime_frequency") if "lifetime_frequency" in names(frame) else nw.col("frequency")
    frame = frame.with_columns(
        _span=((nw.col("last_us") // US_PER_SECOND) - (nw.col("first_us") // US_PER_SECOND)).cast(nw.Float64),
        _gaps=(orders - 1).cast(nw.Float64),
    )
    span, n_gaps = nw.col("_span"), nw.col("_gaps")
    frame = frame.with_columns(
        _variance=(nw.when(orders >= 3).then(nw.col("interval_sq_sum").cast(nw.Float64) - span * span / n_gaps)
                   / (n_gaps - 1)),
    )
    variance = nw.col("_variance")
    frequency = nw.col("frequency").cast(nw.Int64)
    frame = frame.with_columns(
        monetary=nw.col("monetary_cents").cast(nw.Float64) / 100,
        avg_order_value=nw.when(frequency > 0)
        .then(half_even(nw.col("monetary_cents").cast(nw.Int64), frequency).cast(nw.Float64) / 100),
        recency_days=(today - nw.col("last_day")).cast(nw.Int64),
        tenure_days=(today - nw.col("first_day")).cast(nw.Int64),
        mean_interval_days=nw.when(orders >= 2).then(span / n_gaps / SECONDS_PER_DAY),
        std_interval_days=nw.when(orders >= 3)
        .then(nw.when(variance > 0).then(variance).otherwise(0.0).sqrt() / SECONDS_PER_DAY),
    ).drop("_span", "_gaps", "_variance", *added)
    if categories is not None:
        frame = frame.join(categories, on="customer_id", how="left").with_columns(
            nw.col("categories").fill_null(0), nw.col("category_cents").fill_null(0),
        )
    if trend is not None:
        frame = frame.join(trend, on="customer_id", how="left").with_columns(
            nw.col("spend_recent_cents").fill_null(0), nw.col("spend_previous_cents").fill_null(0),
        )
    return frame.sort("customer_id")


def derive_metrics(aggregates: Any, as_of: datetime.date, *, categories: Any = None, trend: Any = None) -> Any:
    """Add the analysis-date and ratio columns to the stored aggregates.

    Adds ``monetary`` and ``avg_order_value`` (yuan, the cents rounded half-to-even), ``recency_days`` and
    ``tenure_days`` (calendar days from the last / first order to `as_of`), ``mean_interval_days`` and
    ``std_interval_days`` (sample standard deviation of the gaps; null below two and three orders
    respectively), and, when given, the category summary and trend columns (zero / null where a customer
    has none). The aggregates need :data:`EPOCH_COLUMNS` or ``first_order_at``/``last_order_at``.
    """
    frame, eager = lazy(aggregates)
    cats = lazy(categories)[0] if categories is not None else None
    tr = lazy(trend)[0] if trend is not None else None
    return result(_derive(frame, as_of, cats, tr), eager)


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
    frame, eager = lazy(orders)
    everything = _period(frame, as_of)
    aggregates = _aggregate(everything)
    if window_months:
        window = _aggregate(_period(frame, as_of, window_months)).select("customer_id", "frequency",
                                                                          "monetary_cents")
        aggregates = (
            aggregates.rename({"frequency": "lifetime_frequency"}).drop("monetary_cents")
            .join(window, on="customer_id", how="left")
            .with_columns(nw.col("frequency").fill_null(0), nw.col("monetary_cents").fill_null(0))
        )
    line_frame = lazy(lines)[0] if lines is not None else None
    if line_frame is None and "category" in names(frame):
        line_frame = _period(frame, as_of, window_months)
    categories = _category_summary(_category_spend(line_frame)) if line_frame is not None else None
    return result(_derive(aggregates, as_of, categories, _trend(everything, as_of, trend_months)), eager)
