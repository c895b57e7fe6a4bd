"""The metrics engine on hand-computed order tables (no database)."""

import datetime as dt
import math

import narwhals as nw
import polars as pl
import pytest

from kehu.segments.engine.metrics import (
    aggregate_orders,
    category_spend,
    category_summary,
    compute_metrics,
    line_cents,
    months_before,
)

ZONE = "Asia/Shanghai"
AS_OF = dt.date(2024, 6, 30)


def orders(rows, *, category: bool = False) -> pl.DataFrame:
    """rows of (customer_id, local datetime, yuan[, category])."""
    schema = {"customer_id": pl.Int64, "ordered_at": pl.Datetime("us"), "amount": pl.Float64}
    if category:
        schema["category"] = pl.String
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    return frame.with_columns(pl.col("ordered_at").dt.replace_time_zone(ZONE))


def by_customer(frame: pl.DataFrame) -> dict[int, dict]:
    return {row["customer_id"]: row for row in frame.iter_rows(named=True)}


def test_it_counts_orders_spend_recency_tenure_and_rhythm():
    # Orders 10, 20 and 40 days after June 1st 2024 minus 60: gaps of 10 and 20 days.
    first = dt.datetime(2024, 5, 1, 10)
    table = orders([
        (1, first, 100.0),
        (1, first + dt.timedelta(days=10), 50.5),
        (1, first + dt.timedelta(days=30), 49.5),
        (2, dt.datetime(2024, 6, 29, 23, 59), 8.0),
    ])
    got = by_customer(compute_metrics(table, AS_OF))
    one = got[1]
    assert one["frequency"] == 3
    assert one["monetary_cents"] == 20000 and one["monetary"] == 200.0
    assert one["avg_order_value"] == pytest.approx(66.67)
    assert one["recency_days"] == (AS_OF - dt.date(2024, 5, 31)).days == 30
    assert one["tenure_days"] == (AS_OF - dt.date(2024, 5, 1)).days == 60
    assert one["mean_interval_days"] == pytest.approx(15.0)
    assert one["std_interval_days"] == pytest.approx(math.sqrt(((10 - 15) ** 2 + (20 - 15) ** 2) / 1))
    two = got[2]
    assert (two["frequency"], two["recency_days"], two["mean_interval_days"], two["std_interval_days"]) == (
        1, 1, None, None)


def test_it_leaves_out_orders_after_the_analysis_date():
    table = orders([(1, dt.datetime(2024, 6, 30, 23, 0), 10.0), (1, dt.datetime(2024, 7, 1, 0, 30), 99.0)])
    got = by_customer(compute_metrics(table, AS_OF))
    assert got[1]["frequency"] == 1 and got[1]["recency_days"] == 0


def test_it_counts_days_in_the_shops_time_zone():
    # 2024-06-29 17:00 UTC is already June 30th in Shanghai.
    utc = pl.DataFrame({"customer_id": [1], "ordered_at": [dt.datetime(2024, 6, 29, 17, 0)], "amount": [1.0]})
    utc = utc.with_columns(pl.col("ordered_at").dt.replace_time_zone("UTC").dt.convert_time_zone(ZONE))
    assert compute_metrics(utc, AS_OF)["recency_days"].to_list() == [0]


def test_it_rounds_money_to_cents_before_summing():
    table = orders([(1, dt.datetime(2024, 6, 1), 0.1), (1, dt.datetime(2024, 6, 2), 0.2),
                    (1, dt.datetime(2024, 6, 3), 10.004)])
    assert compute_metrics(table, AS_OF)["monetary_cents"].to_list() == [1030]


def test_it_compares_spend_of_the_last_months_with_the_months_before():
    # 3 months back from June 30th is March 30th: recent = (Mar 30, Jun 30], previous = (Dec 30, Mar 30].
    table = orders([
        (1, dt.datetime(2024, 6, 30, 12), 30.0),
        (1, dt.datetime(2024, 3, 31, 12), 20.0),
        (1, dt.datetime(2024, 3, 30, 12), 5.0),
        (1, dt.datetime(2023, 12, 31, 12), 1000.0),
        (1, dt.datetime(2023, 12, 30, 12), 7.0),
    ])
    row = by_customer(compute_metrics(table, AS_OF, trend_months=3))[1]
    assert (row["spend_recent_cents"], row["spend_previous_cents"]) == (5000, 100500)


def test_a_window_limits_f_and_m_but_not_recency_or_rhythm():
    table = orders([(1, dt.datetime(2023, 1, 1), 500.0), (1, dt.datetime(2023, 1, 11), 500.0),
                    (1, dt.datetime(2024, 6, 1), 20.0), (2, dt.datetime(2023, 1, 5), 70.0)])
    got = by_customer(compute_metrics(table, AS_OF, window_months=12))
    assert (got[1]["frequency"], got[1]["monetary_cents"], got[1]["recency_days"]) == (1, 2000, 29)
    assert got[1]["lifetime_frequency"] == 3 and got[1]["mean_interval_days"] is not None
    assert (got[2]["frequency"], got[2]["monetary_cents"]) == (0, 0)


def test_interval_squares_are_whole_seconds_and_follow_time_order():
    t0 = dt.datetime(2024, 1, 1, 0, 0, 0, 900_000)
    table = orders([(1, t0 + dt.timedelta(seconds=10), 1.0), (1, t0, 1.0), (1, t0 + dt.timedelta(seconds=13), 1.0)])
    got = aggregate_orders(table)
    # seconds (floored): 0, 10, 13 → gaps 10 and 3
    assert got["interval_sq_sum"].to_list() == [10 ** 2 + 3 ** 2]


def test_line_totals_round_half_to_even_like_decimal():
    frame = nw.from_native(pl.DataFrame({"q": [150, 100, 50, 50], "p": [1, 25, 1, 3]}))
    got = frame.select(line_cents(nw.col("q"), nw.col("p")).alias("c"))["c"].to_list()
    # 1.5 × 0.01 = 0.015 → 0.02; 1 × 0.25; 0.5 × 0.01 = 0.005 → 0.00; 0.5 × 0.03 = 0.015 → 0.02
    assert got == [2, 25, 0, 2]


def test_category_summary_finds_the_top_category_and_counts_categories():
    table = orders([
        (1, dt.datetime(2024, 6, 1), 60.0, "服装"), (1, dt.datetime(2024, 6, 2), 30.0, "鞋"),
        (1, dt.datetime(2024, 6, 3), 10.0, None), (2, dt.datetime(2024, 6, 3), 10.0, "鞋"),
        (2, dt.datetime(2024, 6, 4), 10.0, "包"),
    ], category=True)
    got = by_customer(category_summary(category_spend(table)))
    assert (got[1]["categories"], got[1]["category_cents"], got[1]["top_category"]) == (2, 9000, "服装")
    assert got[2]["top_category"] == "包"  # a tie goes to the smallest key


@pytest.mark.parametrize(("day", "months", "expected"), [
    (dt.date(2024, 6, 30), 3, dt.date(2024, 3, 30)),
    (dt.date(2024, 5, 31), 3, dt.date(2024, 2, 29)),
    (dt.date(2024, 1, 15), 1, dt.date(2023, 12, 15)),
    (dt.date(2024, 3, 31), 13, dt.date(2023, 2, 28)),
])
def test_months_before_clamps_to_the_end_of_short_months(day, months, expected):
    assert months_before(day, months) == expected
