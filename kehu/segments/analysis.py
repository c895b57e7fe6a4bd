"""Aggregations behind the analysis pages (数据分析): pure functions over Polars frames and plain counts.

No request, no template and no ORM object in here: `reports.py` reads the tables (orders through
`pipeline.read_orders`, class counts through a GROUP BY on CustomerSegment) and the views render what
these functions return. Money comes in as integer cents and leaves as yuan (float, rounded to cents).

The orders frame is what :func:`kehu.segments.pipeline.read_orders` returns: ``customer_id``,
``ordered_at`` (local time) and ``amount_cents``, counted orders only.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from .engine.classify import RF_GRID

if TYPE_CHECKING:
    import polars as pl


def no_orders() -> pl.DataFrame:
    """An empty table of orders, with their columns and types."""
    import polars as pl

    return pl.DataFrame(schema={"customer_id": pl.Int64, "ordered_at": pl.Datetime("us"), "amount_cents": pl.Int64})


def yuan(cents: int | float | None) -> float:
    return round((cents or 0) / 100, 2)


def share(part: float, whole: float) -> float:
    """part / whole rounded to 4 places (0 when the whole is 0)."""
    return round(part / whole, 4) if whole else 0.0


# --- months -------------------------------------------------------------------------------------------

def month_start(day: datetime.date) -> datetime.date:
    return day.replace(day=1)


def add_months(day: datetime.date, months: int) -> datetime.date:
    index = day.year * 12 + day.month - 1 + months
    return datetime.date(index // 12, index % 12 + 1, 1)


def month_keys(as_of: datetime.date, months: int) -> list[datetime.date]:
    """The first days of the `months` months ending with the month of `as_of`, oldest first."""
    last = month_start(as_of)
    return [add_months(last, k) for k in range(1 - months, 1)]


def _month_index(column: pl.Expr) -> pl.Expr:
    import polars as pl

    return column.dt.year().cast(pl.Int32) * 12 + column.dt.month().cast(pl.Int32) - 1


def with_months(orders: pl.DataFrame) -> pl.DataFrame:
    """Orders with their local day, month (first day) and the customer's first-order month; the monthly
    functions accept either frame, so a caller running several of them can do this once."""
    import polars as pl

    if "first_month" in orders.columns:
        return orders
    frame = orders.with_columns(pl.col("ordered_at").dt.date().alias("day"))
    frame = frame.with_columns(pl.col("day").dt.truncate("1mo").alias("month"))
    return frame.with_columns(pl.col("month").min().over("customer_id").alias("first_month"))


def _label(month: datetime.date) -> str:
    return f"{month:%Y-%m}"


# --- key figures --------------------------------------------------------------------------------------

def key_figures(orders: pl.DataFrame, customers: int, as_of: datetime.date, active_days: int) -> dict:
    """Customers, active customers (an order within `active_days` of `as_of`), revenue, orders,
    average order value, and the repeat rate (buyers with at least two orders / buyers)."""
    import polars as pl

    per_customer = orders.group_by("customer_id").agg(
        pl.len().alias("orders"), pl.col("ordered_at").max().dt.date().alias("last_day"))
    buyers = len(per_customer)
    repeat = per_customer.filter(pl.col("orders") >= 2).height
    since = as_of - datetime.timedelta(days=active_days)
    active = per_customer.filter(pl.col("last_day") >= since).height
    revenue = int(orders["amount_cents"].sum() or 0)
    count = orders.height
    return {
        "customers": customers,
        "buyers": buyers,
        "active": active,
        "revenue": yuan(revenue),
        "orders": count,
        "avg_order_value": yuan(revenue / count) if count else None,
        "repeat_buyers": repeat,
        "repeat_rate": share(repeat, buyers),
    }


# --- trends by month ----------------------------------------------------------------------------------

def monthly(orders: pl.DataFrame, as_of: datetime.date, months: int = 24) -> list[dict]:
    """Per month (oldest first): revenue, orders and new customers (whose first order fell in it)."""
    import polars as pl

    frame = with_months(orders)
    sales = frame.group_by("month").agg(pl.col("amount_cents").sum().alias("cents"), pl.len().alias("orders"))
    new = frame.group_by("customer_id").agg(pl.col("first_month").first()).group_by("first_month").agg(
        pl.len().alias("new"))
    found = {m: (c, o) for m, c, o in sales.iter_rows()}
    new_by_month = dict(new.iter_rows())
    rows = []
    for month in month_keys(as_of, months):
        cents, count = found.get(month, (0, 0))
        rows.append({"month": _label(month), "revenue": yuan(cents), "orders": int(count),
                     "new_customers": int(new_by_month.get(month, 0))})
    return rows


def new_vs_returning(orders: pl.DataFrame, as_of: datetime.date, months: int = 12) -> list[dict]:
    """Per month: buying customers split into new (first order that month) and returning, with revenue."""
    import polars as pl

    frame = with_months(orders).with_columns((pl.col("month") == pl.col("first_month")).alias("is_new"))
    grouped = frame.group_by("month", "is_new").agg(
        pl.col("customer_id").n_unique().alias("customers"), pl.col("amount_cents").sum().alias("cents"))
    found = {(m, is_new): (n, c) for m, is_new, n, c in grouped.iter_rows()}
    rows = []
    for month in month_keys(as_of, months):
        new_n, new_c = found.get((month, True), (0, 0))
        old_n, old_c = found.get((month, False), (0, 0))
        rows.append({"month": _label(month), "new": int(new_n), "returning": int(old_n),
                     "new_revenue": yuan(new_c), "returning_revenue": yuan(old_c),
                     "returning_share": share(old_n, new_n + old_n)})
    return rows


def cohort_retention(orders: pl.DataFrame, as_of: datetime.date, months: int = 12) -> list[dict]:
    """Cohorts by first-order month (the last `months` months): size and, for each month since the
    first (0, 1, …), the share of the cohort who ordered in that month; None for months not yet over."""
    import polars as pl

    frame = with_months(orders).with_columns(
        (_month_index(pl.col("month")) - _month_index(pl.col("first_month"))).alias("since"))
    sizes = dict(frame.group_by("first_month").agg(pl.col("customer_id").n_unique()).iter_rows())
    cells = frame.group_by("first_month", "since").agg(pl.col("customer_id").n_unique().alias("n"))
    found = {(m, s): n for m, s, n in cells.iter_rows()}
    rows = []
    keys = month_keys(as_of, months)
    for position, cohort in enumerate(keys):
        size = int(sizes.get(cohort, 0))
        available = len(keys) - position          # month 0 up to the month of as_of
        retention = [share(found.get((cohort, k), 0), size) if k < available else None for k in range(months)]
        counts = [int(found.get((cohort, k), 0)) if k < available else None for k in range(months)]
        rows.append({"cohort": _label(cohort), "size": size, "retention": retention, "counts": counts})
    return rows


# --- classes ------------------------------------------------------------------------------------------

def distribution(counts: Mapping[str, tuple[int, float]], names: Sequence[str]) -> list[dict]:
    """Rows in the classes' own order: customers and revenue (yuan) with their shares of the total.
    `counts` maps class name ("" for none) to (customers, revenue); classes with nobody are kept."""
    total_n = sum(n for n, _ in counts.values())
    total_m = sum(m for _, m in counts.values())
    rows = []
    for name in [*names, ""]:
        if name == "" and name not in counts:
            continue
        n, m = counts.get(name, (0, 0.0))
        rows.append({"name": name, "customers": int(n), "customer_share": share(n, total_n),
                     "revenue": round(float(m), 2), "revenue_share": share(m, total_m),
                     "avg_revenue": round(float(m) / n, 2) if n else None})
    return rows


def rf_grid(cells: Iterable[tuple[int, int, int]]) -> list[dict]:
    """The RF grid, rows R = 5 … 1, columns F = 1 … 5: each cell's segment name and customers."""
    found = {(r, f): n for r, f, n in cells if r and f}
    return [{"r": r, "cells": [{"f": f, "segment": RF_GRID[(r, f)], "customers": int(found.get((r, f), 0))}
                               for f in range(1, 6)]}
            for r in range(5, 0, -1)]


def pareto(monetary_cents: pl.Series, points: int = 100) -> dict:
    """The Pareto (ABC) curve: cumulative revenue share against the share of customers sorted by spend,
    sampled at `points` + 1 evenly spaced customer shares; plus the revenue share of the top 20 %."""
    values = monetary_cents.filter(monetary_cents > 0).sort(descending=True)
    n = len(values)
    total = int(values.sum() or 0)
    if not n or not total:
        return {"customers": 0, "curve": [], "top20_share": 0.0}
    cumulative = values.cum_sum()
    curve = []
    for step in range(points + 1):
        k = round(step * n / points)        # customers counted so far
        curve.append([round(step / points, 4), share(int(cumulative[k - 1]) if k else 0, total)])
    top = max(1, round(0.2 * n))
    return {"customers": n, "curve": curve, "top20_share": share(int(cumulative[top - 1]), total)}


def big_ticket(orders: pl.DataFrame, max_orders: int, quantile: float = 0.8, limit: int = 100) -> dict:
    """Potential big-ticket customers (潜力大单客户): at most `max_orders` orders and an average ticket at or
    above the `quantile` of all buyers' average tickets; largest ticket first."""
    import polars as pl

    per_customer = orders.group_by("customer_id").agg(
        pl.len().alias("orders"), pl.col("amount_cents").sum().alias("cents"))
    per_customer = per_customer.with_columns((pl.col("cents") / pl.col("orders")).alias("aov_cents"))
    if per_customer.is_empty():
        return {"threshold": None, "count": 0, "rows": []}
    threshold = float(per_customer["aov_cents"].quantile(quantile, interpolation="lower"))
    chosen = per_customer.filter((pl.col("orders") <= max_orders) & (pl.col("aov_cents") >= threshold))
    chosen = chosen.sort(["aov_cents", "customer_id"], descending=[True, False])
    rows = [{"customer_id": c, "orders": int(o), "monetary": yuan(m), "avg_order_value": yuan(a)}
            for c, o, m, a in chosen.head(limit).select("customer_id", "orders", "cents", "aov_cents").iter_rows()]
    return {"threshold": yuan(threshold), "count": chosen.height, "rows": rows}


def spend_by_class(spend: pl.DataFrame, classes: pl.DataFrame) -> pl.DataFrame:
    """Spend per (class, key) and the customers behind it.

    `spend`: customer_id, key (e.g. a category id), amount_cents — one row per line or order;
    `classes`: customer_id, class. Returns class, key, cents, customers."""
    import polars as pl

    joined = spend.join(classes, on="customer_id", how="inner")
    return joined.group_by("class", "key").agg(
        pl.col("amount_cents").sum().alias("cents"), pl.col("customer_id").n_unique().alias("customers"))


def favourites(grouped: pl.DataFrame, names: Mapping, top: int = 5) -> dict[str, list[dict]]:
    """Per class, the `top` keys by spend with their share of the class's spend (ties by key).

    `grouped`: class, key, cents, customers (as from :func:`spend_by_class` or a GROUP BY); `names` turns
    keys into labels."""
    import polars as pl

    grouped = grouped.with_columns(pl.col("cents").sum().over("class").alias("class_cents"))
    grouped = grouped.sort(["class", "cents", "key"], descending=[False, True, False])
    result: dict[str, list[dict]] = {}
    for cls, key, cents, customers, class_cents in grouped.select(
            "class", "key", "cents", "customers", "class_cents").iter_rows():
        rows = result.setdefault(cls, [])
        if len(rows) < top:
            rows.append({"key": key, "name": names.get(key, str(key)), "revenue": yuan(cents),
                         "share": share(cents, class_cents), "customers": int(customers)})
    return result


def movement_sentences(matrix: Mapping[str, Mapping[str, int]]) -> list[dict]:
    """The off-diagonal cells of a migration matrix, most customers first: who moved from where to where."""
    moves = [{"from": a, "to": b, "customers": n} for a, row in matrix.items() for b, n in row.items()
             if a != b and n]
    return sorted(moves, key=lambda m: (-m["customers"], m["from"], m["to"]))


# --- age band × gender ------------------------------------------------------------------------------

def demographics(rows: Iterable[tuple[str, str, str, int, float, int]], bands: Sequence[str],
                 genders: Sequence[str], classes: Sequence[str]) -> list[dict]:
    """One row per (age band, gender): bands youngest first, then any other band found, then 未知 (""); genders
    in their order. Customers, revenue (yuan), orders, average order value and customers per class ("" = none).

    `rows`: (band, gender, class, customers, revenue, orders), e.g. a GROUP BY over the customers."""
    cells: dict[tuple[str, str], dict] = {}
    for band, gender, cls, n, revenue, orders in rows:
        cell = cells.setdefault((band, gender), {"customers": 0, "revenue": 0.0, "orders": 0, "classes": {}})
        cell["customers"] += n
        cell["revenue"] += float(revenue or 0)
        cell["orders"] += int(orders or 0)
        cell["classes"][cls or ""] = cell["classes"].get(cls or "", 0) + n
    found = {band for band, _ in cells}
    order = [*bands, *sorted(found - {*bands, ""}), ""]
    total_n = sum(c["customers"] for c in cells.values())
    total_m = sum(c["revenue"] for c in cells.values())
    result = []
    for band in order:
        for gender in [*genders, *sorted({g for b, g in cells if b == band} - set(genders))]:
            cell = cells.get((band, gender), {"customers": 0, "revenue": 0.0, "orders": 0, "classes": {}})
            revenue = round(cell["revenue"], 2)
            result.append({
                "band": band, "gender": gender, "customers": cell["customers"],
                "customer_share": share(cell["customers"], total_n), "revenue": revenue,
                "revenue_share": share(revenue, total_m), "orders": cell["orders"],
                "avg_order_value": round(revenue / cell["orders"], 2) if cell["orders"] else None,
                "classes": {name: cell["classes"].get(name, 0) for name in [*classes, ""]}})
    return result
