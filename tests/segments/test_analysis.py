"""The aggregations behind the analysis pages, on small histories worked out by hand."""

import datetime as dt
import zoneinfo

import polars as pl
import pytest

from kehu.segments import analysis, pipeline
from tests.conftest import make_customer

SHANGHAI = zoneinfo.ZoneInfo("Asia/Shanghai")
AS_OF = dt.date(2026, 3, 31)


def orders(*rows) -> pl.DataFrame:
    """(customer, 'YYYY-MM-DD HH:MM' local, yuan) → the frame pipeline.read_orders returns."""
    return pl.DataFrame(
        {"customer_id": [r[0] for r in rows],
         "ordered_at": [dt.datetime.fromisoformat(r[1]).replace(tzinfo=SHANGHAI) for r in rows],
         "amount_cents": [round(r[2] * 100) for r in rows]},
        schema={"customer_id": pl.Int64, "ordered_at": pl.Datetime("us", "Asia/Shanghai"), "amount_cents": pl.Int64})


# A: January and March; B: March only; C: long ago; D: January and just after midnight on 1 February (local).
HISTORY = orders(
    (1, "2026-01-05 10:00", 100), (1, "2026-03-10 15:00", 50),
    (2, "2026-03-20 09:00", 30),
    (3, "2025-06-01 12:00", 20),
    (4, "2026-01-20 18:00", 10), (4, "2026-02-01 00:30", 40),
)


def test_it_computes_the_key_figures():
    figures = analysis.key_figures(HISTORY, customers=5, as_of=AS_OF, active_days=90)
    assert figures == {
        "customers": 5, "buyers": 4, "active": 3,   # C's last order is more than 90 days old
        "revenue": 250.0, "orders": 6, "avg_order_value": 41.67,
        "repeat_buyers": 2, "repeat_rate": 0.5,    # A and D of 4 buyers
    }


def test_key_figures_of_an_empty_shop_are_zero_not_errors():
    empty = orders()
    assert analysis.key_figures(empty, 0, AS_OF, 90) == {
        "customers": 0, "buyers": 0, "active": 0, "revenue": 0.0, "orders": 0, "avg_order_value": None,
        "repeat_buyers": 0, "repeat_rate": 0.0}


def test_it_sums_revenue_orders_and_new_customers_by_local_month():
    assert analysis.monthly(HISTORY, AS_OF, months=3) == [
        {"month": "2026-01", "revenue": 110.0, "orders": 2, "new_customers": 2},
        {"month": "2026-02", "revenue": 40.0, "orders": 1, "new_customers": 0},   # 00:30 on 1 Feb counts in Feb
        {"month": "2026-03", "revenue": 80.0, "orders": 2, "new_customers": 1},
    ]


def test_it_splits_buyers_into_new_and_returning():
    rows = analysis.new_vs_returning(HISTORY, AS_OF, months=3)
    assert [(r["month"], r["new"], r["returning"]) for r in rows] == [
        ("2026-01", 2, 0), ("2026-02", 0, 1), ("2026-03", 1, 1)]
    march = rows[2]
    assert (march["new_revenue"], march["returning_revenue"], march["returning_share"]) == (30.0, 50.0, 0.5)


def test_it_builds_the_cohort_retention_matrix():
    rows = analysis.cohort_retention(HISTORY, AS_OF, months=3)
    assert rows == [
        # A and D first bought in January; D came back in February, A in March.
        {"cohort": "2026-01", "size": 2, "retention": [1.0, 0.5, 0.5], "counts": [2, 1, 1]},
        {"cohort": "2026-02", "size": 0, "retention": [0.0, 0.0, None], "counts": [0, 0, None]},
        {"cohort": "2026-03", "size": 1, "retention": [1.0, None, None], "counts": [1, None, None]},
    ]


def test_it_gives_class_shares_in_the_classes_own_order():
    rows = analysis.distribution({"一般挽留客户": (1, 100.0), "重要价值客户": (2, 300.0), "": (1, 0.0)},
                                 ["重要价值客户", "重要发展客户", "一般挽留客户"])
    assert [r["name"] for r in rows] == ["重要价值客户", "重要发展客户", "一般挽留客户", ""]
    assert rows[0] == {"name": "重要价值客户", "customers": 2, "customer_share": 0.5, "revenue": 300.0,
                       "revenue_share": 0.75, "avg_revenue": 150.0}
    assert rows[1]["customers"] == 0 and rows[1]["avg_revenue"] is None


def test_it_lays_out_the_rf_grid_with_recent_rows_first():
    grid = analysis.rf_grid([(5, 5, 3), (1, 1, 2), (None, None, 9)])
    assert [row["r"] for row in grid] == [5, 4, 3, 2, 1]
    assert grid[0]["cells"][4] == {"f": 5, "segment": "冠军客户", "customers": 3}
    assert grid[4]["cells"][0] == {"f": 1, "segment": "沉睡客户", "customers": 2}
    assert sum(c["customers"] for row in grid for c in row["cells"]) == 5


def test_it_draws_the_pareto_curve():
    curve = analysis.pareto(pl.Series([5000, 80000, 5000, 10000, 0]), points=4)   # the 0 is not a buyer
    assert curve == {"customers": 4, "top20_share": 0.8,
                     "curve": [[0.0, 0.0], [0.25, 0.8], [0.5, 0.9], [0.75, 0.95], [1.0, 1.0]]}


def test_it_finds_customers_who_buy_rarely_but_big():
    found = analysis.big_ticket(HISTORY, max_orders=1, quantile=0.5)
    # Average tickets: A 75, B 30, C 20, D 25 → the lower median is 25; of the one-order customers only B reaches it.
    assert found["threshold"] == 25.0
    assert found["rows"] == [{"customer_id": 2, "orders": 1, "monetary": 30.0, "avg_order_value": 30.0}]


def test_it_ranks_favourites_within_each_class():
    spend = pl.DataFrame({"customer_id": [1, 1, 2, 3], "key": [10, 20, 20, 10],
                          "amount_cents": [6000, 1000, 3000, 500]})
    classes = pl.DataFrame({"customer_id": [1, 2, 3], "class": ["重要价值客户", "重要价值客户", "一般挽留客户"]})
    result = analysis.favourites(analysis.spend_by_class(spend, classes), {10: "茶叶", 20: "茶具"}, top=1)
    assert result == {
        "重要价值客户": [{"key": 10, "name": "茶叶", "revenue": 60.0, "share": 0.6, "customers": 1}],
        "一般挽留客户": [{"key": 10, "name": "茶叶", "revenue": 5.0, "share": 1.0, "customers": 1}],
    }


def test_it_lists_moves_off_the_diagonal_largest_first():
    matrix = {"忠诚客户": {"忠诚客户": 30, "沉睡客户": 12}, "新客户": {"活跃客户": 3, "沉睡客户": 0}}
    assert analysis.movement_sentences(matrix) == [
        {"from": "忠诚客户", "to": "沉睡客户", "customers": 12}, {"from": "新客户", "to": "活跃客户", "customers": 3}]


def test_month_keys_cross_the_year():
    assert analysis.month_keys(dt.date(2026, 2, 14), 3) == [dt.date(2025, 12, 1), dt.date(2026, 1, 1),
                                                           dt.date(2026, 2, 1)]


@pytest.mark.django_db
def test_orders_read_from_the_store_fall_in_the_shops_local_month():
    from decimal import Decimal

    from kehu.sales.models import Order

    wang = make_customer()
    # 16:30 UTC on 31 January is 00:30 on 1 February in Shanghai.
    Order.objects.create(customer=wang, amount=Decimal("40.00"),
                         ordered_at=dt.datetime(2026, 1, 31, 16, 30, tzinfo=dt.UTC))
    rows = analysis.monthly(pipeline.read_orders(), dt.date(2026, 2, 10), months=2)
    assert [(r["month"], r["revenue"]) for r in rows] == [("2026-01", 0.0), ("2026-02", 40.0)]


def test_demographics_keeps_every_band_and_gender_in_order_with_a_stale_band_after_the_known_ones():
    rows = [("25-34", "female", "重要价值客户", 2, 300.0, 3), ("25-34", "female", "", 1, 0, 0),
            ("", "male", "", 1, None, None), ("30-39", "female", "一般挽留客户", 1, 50.0, 1)]
    cells = analysis.demographics(rows, ("<25", "25-34"), ("male", "female", ""), ("重要价值客户", "一般挽留客户"))
    assert [(c["band"], c["gender"]) for c in cells] == [
        (b, g) for b in ("<25", "25-34", "30-39", "") for g in ("male", "female", "")]
    young_women = cells[4]
    assert (young_women["customers"], young_women["revenue"], young_women["orders"]) == (3, 300.0, 3)
    assert young_women["avg_order_value"] == 100.0 and young_women["customer_share"] == 0.6
    assert young_women["classes"] == {"重要价值客户": 2, "一般挽留客户": 0, "": 1}
    assert cells[0]["avg_order_value"] is None and cells[9]["customers"] == 1
