"""Classifications and explanations on hand-computed metrics tables (no database)."""

import dataclasses
import datetime as dt
import random

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kehu.segments.engine.classify import (
    LIFECYCLE_STAGES,
    RF_GRID,
    RF_SEGMENT_NAMES,
    RFM_CLASSES,
    References,
    Thresholds,
    classify,
    rfm_class_name,
)
from kehu.segments.engine.explain import explain, explain_lifecycle, explain_rfm, explain_value, money

SOME_TIME = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)


def table(rows: list[tuple], **extra_columns) -> pl.DataFrame:
    """rows of (customer_id, recency_days, frequency, yuan[, tenure_days]); None recency = never bought."""
    data = {"customer_id": [], "last_order_at": [], "recency_days": [], "frequency": [], "monetary_cents": [],
            "tenure_days": []}
    for row in rows:
        cid, recency, frequency, money = row[:4]
        data["customer_id"].append(cid)
        data["last_order_at"].append(None if recency is None else SOME_TIME)
        data["recency_days"].append(recency)
        data["frequency"].append(frequency)
        data["monetary_cents"].append(None if money is None else round(money * 100))
        data["tenure_days"].append(row[4] if len(row) > 4 else (None if recency is None else 1000))
    frame = pl.DataFrame(data, schema_overrides={"last_order_at": pl.Datetime("us", "UTC"),
                                                 "recency_days": pl.Int64, "frequency": pl.Int64,
                                                 "monetary_cents": pl.Int64, "tenure_days": pl.Int64})
    return frame.with_columns(**{k: pl.Series(v) for k, v in extra_columns.items()})


def column(frame: pl.DataFrame, name: str) -> dict[int, object]:
    return dict(zip(frame["customer_id"].to_list(), frame[name].to_list(), strict=True))


# --- the 8-class RFM model -------------------------------------------------------------------------------

EIGHT = [  # (id, recency, F, ¥): mean recency 52.5 days, mean F 5.5, mean M ¥550
    (1, 5, 10, 1000), (2, 5, 1, 1000), (3, 100, 10, 1000), (4, 100, 1, 1000),
    (5, 5, 10, 100), (6, 5, 1, 100), (7, 100, 10, 100), (8, 100, 1, 100),
]


def test_every_corner_of_the_cube_gets_its_chinese_name_against_the_mean():
    got, refs = classify(table(EIGHT))
    assert (refs.recency_days, refs.frequency, refs.monetary) == (52.5, 5.5, 550.0)
    assert column(got, "rfm_class") == {
        1: "重要价值客户", 2: "重要发展客户", 3: "重要保持客户", 4: "重要挽留客户",
        5: "一般价值客户", 6: "一般发展客户", 7: "一般保持客户", 8: "一般挽留客户",
    }


def test_rfm_class_names_follow_the_high_low_pattern():
    assert rfm_class_name(True, True, True) == "重要价值客户"
    assert rfm_class_name(True, False, True) == "重要发展客户"
    assert rfm_class_name(False, True, True) == "重要保持客户"
    assert rfm_class_name(False, False, True) == "重要挽留客户"
    assert rfm_class_name(True, True, False) == "一般价值客户"
    assert rfm_class_name(True, False, False) == "一般发展客户"
    assert rfm_class_name(False, True, False) == "一般保持客户"
    assert rfm_class_name(False, False, False) == "一般挽留客户"
    assert len(set(RFM_CLASSES)) == 8


SKEWED = [  # one big old spender pulls the means: recency mean 115 / median 25, F 4 / 2.5, M ¥2,650 / ¥250
    (1, 10, 2, 300), (2, 20, 1, 200), (3, 30, 3, 100), (4, 400, 10, 10000),
]


def test_against_the_mean_the_big_spender_skews_everyone_low():
    got, refs = classify(table(SKEWED), Thresholds(rfm_reference="mean"))
    assert (refs.recency_days, refs.frequency, refs.monetary) == (115.0, 4.0, 2650.0)
    assert column(got, "rfm_class") == {1: "一般发展客户", 2: "一般发展客户", 3: "一般发展客户", 4: "重要保持客户"}


def test_against_the_median_the_middle_splits():
    got, refs = classify(table(SKEWED), Thresholds(rfm_reference="median"))
    assert (refs.recency_days, refs.frequency, refs.monetary) == (25.0, 2.5, 250.0)
    assert column(got, "rfm_class") == {1: "重要发展客户", 2: "一般发展客户", 3: "一般保持客户", 4: "重要保持客户"}


def test_fixed_thresholds_are_inclusive_minimums():
    rows = [*SKEWED, (5, 90, 3, 1000), (6, 91, 2, 999.99)]
    got, refs = classify(table(rows), Thresholds(rfm_reference="fixed", rfm_r_days=90, rfm_f_orders=3,
                                                 rfm_m_yuan=1000))
    assert (refs.method, refs.recency_days, refs.frequency, refs.monetary) == ("fixed", 90, 3, 1000)
    assert column(got, "rfm_class") == {
        1: "一般发展客户", 2: "一般发展客户", 3: "一般价值客户", 4: "重要保持客户",
        5: "重要价值客户", 6: "一般挽留客户",
    }


def test_a_value_equal_to_the_mean_counts_as_low():
    got, _ = classify(table([(1, 10, 2, 100), (2, 30, 4, 300), (3, 20, 3, 200)]))  # means 20 days, 3, ¥200
    assert column(got, "rfm_class")[3] == "一般挽留客户"


# --- scores ----------------------------------------------------------------------------------------------

def test_quintiles_on_distinct_values_give_one_to_five():
    got, _ = classify(table([(i, 50 - i * 10, i, i * 100) for i in range(1, 6)]))
    assert column(got, "r_score") == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    assert column(got, "f_score") == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    assert column(got, "m_score") == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}


def test_equal_values_get_equal_scores_whatever_the_ids_or_row_order():
    rows = [(cid, 30, 1, 99.99) for cid in range(1, 11)]
    shuffled = rows[:]
    random.Random(7).shuffle(shuffled)
    for data in (rows, shuffled):
        got, _ = classify(table(data))
        for name in ("r_score", "f_score", "m_score"):
            assert set(column(got, name).values()) == {1}, name


def test_a_tie_takes_the_score_where_it_starts():
    # F: six customers bought once (positions 0–5 of 10), then 2, 3, 4, 5 orders (positions 6–9):
    # the six share position 0 → score 1; the others 6·5//10 + 1 = 4, 4, 5, 5
    got, _ = classify(table([(cid, cid, 1 if cid <= 6 else cid - 5, 10) for cid in range(1, 11)]))
    assert column(got, "f_score") == {1: 1, 2: 1, 3: 1, 4: 1, 5: 1, 6: 1, 7: 4, 8: 4, 9: 5, 10: 5}
    # R: most recent → 5; all distinct here
    assert column(got, "r_score") == {cid: 5 - (cid - 1) // 2 for cid in range(1, 11)}
    # equal spend for everyone: one tie, score 1; ABC by the tie's last member, who has 90 % of the
    # total before them (not under 80 %: not A; under 95 %: B); tier by the last place (not in the top 50 %)
    assert set(column(got, "m_score").values()) == {1}
    assert set(column(got, "abc_class").values()) == {"B"}
    assert set(column(got, "value_tier").values()) == {"低价值"}


def test_quintiles_of_seven_customers():
    got, _ = classify(table([(i, 1, i, i) for i in range(1, 8)]))
    assert list(column(got, "f_score").values()) == [1, 1, 2, 3, 3, 4, 5]


def test_fixed_scores_use_days_counts_and_yuan():
    t = Thresholds(score_method="fixed", r_score_days=(30, 90, 180, 365), f_score_orders=(1, 2, 4, 8),
                   m_score_yuan=(200, 500, 1000, 3000))
    got, _ = classify(table([(1, 30, 1, 200), (2, 31, 2, 200.01), (3, 180, 4, 1000), (4, 365, 8, 3000),
                             (5, 366, 9, 3000.01)]), t)
    assert column(got, "r_score") == {1: 5, 2: 4, 3: 3, 4: 2, 5: 1}
    assert column(got, "f_score") == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}
    assert column(got, "m_score") == {1: 1, 2: 2, 3: 3, 4: 4, 5: 5}


# --- the RF grid -----------------------------------------------------------------------------------------

def test_the_rf_grid_puts_each_of_the_25_cells_in_exactly_one_segment():
    assert sorted(RF_GRID) == [(r, f) for r in range(1, 6) for f in range(1, 6)]
    assert set(RF_GRID.values()) == set(RF_SEGMENT_NAMES)  # every segment used, none outside the list
    assert len(RF_SEGMENT_NAMES) == len(set(RF_SEGMENT_NAMES)) == 10


def test_classify_maps_every_rf_cell_through_the_grid():
    t = Thresholds(score_method="fixed", r_score_days=(10, 20, 30, 40), f_score_orders=(1, 2, 3, 4))
    recency_for = {5: 5, 4: 15, 3: 25, 2: 35, 1: 45}
    rows = [(r * 10 + f, recency_for[r], f, 100) for r in range(1, 6) for f in range(1, 6)]
    got, _ = classify(table(rows), t)
    for cid, segment in column(got, "rf_segment").items():
        r, f = divmod(cid, 10)
        assert (column(got, "r_score")[cid], column(got, "f_score")[cid]) == (r, f)
        assert segment == RF_GRID[(r, f)], (r, f)
    assert RF_GRID[(5, 5)] == "冠军客户" and RF_GRID[(1, 1)] == "沉睡客户" and RF_GRID[(1, 5)] == "不能失去"
    assert RF_GRID[(5, 1)] == "新客户"


# --- ABC, tiers ------------------------------------------------------------------------------------------

def test_abc_counts_the_customer_who_crosses_the_share_in_the_higher_class():
    got, _ = classify(table([(1, 1, 1, 50), (2, 1, 1, 30), (3, 1, 1, 15), (4, 1, 1, 5), (5, 1, 1, 0)]))
    # before each: 0 %, 50 %, 80 %, 95 %, 100 %
    assert column(got, "abc_class") == {1: "A", 2: "A", 3: "B", 4: "C", 5: "C"}


def test_abc_ties_in_spend_go_by_customer_id():
    got, _ = classify(table([(2, 1, 1, 40), (1, 1, 1, 40), (3, 1, 1, 20)]))
    # id 1 first (0 %), id 2 (40 %), id 3 (80 %)
    assert column(got, "abc_class") == {1: "A", 2: "A", 3: "B"}


def test_abc_with_no_spend_is_all_c():
    got, _ = classify(table([(1, 1, 1, 0), (2, 1, 1, 0)]))
    assert set(column(got, "abc_class").values()) == {"C"}


def test_frequency_tiers_by_order_count_and_value_tiers_by_share():
    rows = [(i, 1, f, i * 10) for i, f in zip(range(1, 11), [1, 1, 2, 5, 6, 9, 1, 2, 2, 1], strict=True)]
    got, _ = classify(table(rows))
    tiers = column(got, "frequency_tier")
    assert [tiers[i] for i in range(1, 11)] == [
        "低频", "低频", "中频", "中频", "高频", "高频", "低频", "中频", "中频", "低频"]
    value = column(got, "value_tier")  # top 20 % by spend = ids 10, 9; next 30 % = 8, 7, 6
    assert [value[i] for i in range(10, 0, -1)] == ["高价值"] * 2 + ["中价值"] * 3 + ["低价值"] * 5


def test_tiers_can_switch_methods():
    t = Thresholds(frequency_tier_method="share", value_tier_method="fixed", value_high_yuan=5000,
                   value_mid_yuan=1000)
    got, _ = classify(table([(1, 1, 9, 5000), (2, 1, 3, 4999.99), (3, 1, 2, 1000), (4, 1, 1, 999.99),
                             (5, 1, 1, 0)]), t)
    assert column(got, "value_tier") == {1: "高价值", 2: "中价值", 3: "中价值", 4: "低价值", 5: "低价值"}
    # by share: top 20 % of 5 = id 1, next 30 % = ids 2 and 3 (positions 1 and 2 of 5)
    assert column(got, "frequency_tier") == {1: "高频", 2: "中频", 3: "中频", 4: "低频", 5: "低频"}


# --- lifecycle, overdue, category loyalty, trend ---------------------------------------------------------

def test_lifecycle_stages_at_their_day_thresholds():
    rows = [
        (1, None, None, None),    # never bought
        (2, 181, 9, 100, 500),    # > 180 days: lost
        (3, 180, 9, 100, 500),    # 180 days is still only sleeping
        (4, 91, 9, 100, 500),     # > 90: sleeping
        (5, 90, 1, 100, 30),      # first order 30 days ago: new
        (6, 5, 5, 100, 31),       # not new any more, 5 orders: loyal
        (7, 5, 4, 100, 31),       # active
    ]
    got, _ = classify(table(rows), Thresholds(new_days=30, sleeping_days=90, lost_days=180, loyal_orders=5))
    assert column(got, "lifecycle") == {1: "潜在客户", 2: "流失客户", 3: "沉睡客户", 4: "沉睡客户", 5: "新客户",
                                        6: "忠诚客户", 7: "活跃客户"}
    assert set(column(got, "lifecycle").values()) <= set(LIFECYCLE_STAGES)
    never = got.filter(pl.col("customer_id") == 1).row(0, named=True)
    assert (never["rfm_class"], never["rf_segment"], never["abc_class"], never["r_score"]) == ("", "", "", None)


def test_overdue_when_the_gap_exceeds_the_customers_own_rhythm():
    rows = [(1, 15, 3, 100), (2, 14, 3, 100), (3, 15, 2, 100), (4, 100, 5, 100)]
    got, _ = classify(table(rows, mean_interval_days=[10.0, 10.0, 10.0, 60.0],
                            std_interval_days=[2.0, 2.0, None, 25.0]), Thresholds(overdue_k=2))
    # limits: 14, 14, (too few orders), 110
    assert column(got, "overdue") == {1: True, 2: False, 3: False, 4: False}


def test_category_loyalty_needs_the_share_and_enough_orders():
    rows = [(1, 1, 3, 100), (2, 1, 3, 100), (3, 1, 1, 100), (4, 1, 3, 100)]
    got, _ = classify(table(rows, top_category=["服装", "服装", "鞋", None],
                            top_category_cents=[6000, 5999, 10000, None], category_cents=[10000, 10000, 10000, 0]))
    assert column(got, "category_loyalty") == {1: "服装忠实客户", 2: "综合客户", 3: "综合客户", 4: ""}


def test_trend_rises_falls_or_holds():
    rows = [(i, 1, 1, 100) for i in range(1, 6)]
    got, _ = classify(table(rows, spend_recent_cents=[121, 79, 100, 5, 0], spend_previous_cents=[100, 100, 119, 0, 0]))
    assert column(got, "trend") == {1: "上升", 2: "下降", 3: "持平", 4: "上升", 5: ""}


# --- thresholds ------------------------------------------------------------------------------------------

def test_thresholds_round_trip_through_json_and_reject_nonsense():
    t = Thresholds(rfm_reference="median", r_score_days=(7, 30, 60, 120))
    assert Thresholds.from_dict(t.to_dict()) == t
    assert Thresholds.from_dict({}) == Thresholds()
    with pytest.raises(ValueError, match="沉睡天数 < 流失天数"):
        Thresholds.from_dict({"sleeping_days": 200, "lost_days": 100})
    with pytest.raises(ValueError, match="4 个递增的数"):
        Thresholds.from_dict({"f_score_orders": [5, 1, 2, 3]})


def test_every_threshold_is_documented_in_the_module():
    import kehu.segments.engine.classify as module

    undocumented = [f.name for f in dataclasses.fields(Thresholds)
                    if f.name != "extra" and f.name not in module.__doc__]
    assert undocumented == []


# --- explanations ----------------------------------------------------------------------------------------

def test_the_explanation_quotes_the_numbers_compared():
    got, refs = classify(table(EIGHT))
    row = got.filter(pl.col("customer_id") == 1).row(0, named=True)
    assert explain_rfm(row, refs) == (
        "最近一次消费 5 天前，优于平均的 52.5 天；共 10 笔订单，高于平均的 5.5 笔；"
        "累计消费 ¥1,000，高于平均的 ¥550 → 重要价值客户")
    low = got.filter(pl.col("customer_id") == 8).row(0, named=True)
    assert explain_rfm(low, refs) == (
        "最近一次消费 100 天前，不如平均的 52.5 天；共 1 笔订单，低于平均的 5.5 笔；"
        "累计消费 ¥100，低于平均的 ¥550 → 一般挽留客户")


def test_explanations_with_median_and_fixed_references():
    got, refs = classify(table(SKEWED), Thresholds(rfm_reference="median"))
    row = got.filter(pl.col("customer_id") == 1).row(0, named=True)
    assert "优于中位数的 25 天" in explain_rfm(row, refs) and "高于中位数的 ¥250" in explain_rfm(row, refs)
    fixed = References("fixed", 90, 3, 1000, 1)
    text = explain_rfm({"recency_days": 120, "frequency": 3, "monetary": 5200.5, "r_high": False, "f_high": True,
                        "m_high": True, "rfm_class": "重要保持客户"}, fixed)
    assert text == ("最近一次消费 120 天前，超过 90 天；共 3 笔订单，达到 3 笔；"
                    "累计消费 ¥5,200.50，达到 ¥1,000 → 重要保持客户")


def test_lifecycle_and_overdue_reasons():
    t = Thresholds()
    assert explain_lifecycle({"lifecycle": "沉睡客户", "recency_days": 120, "tenure_days": 400, "frequency": 2},
                             t) == "沉睡客户：已 120 天未消费，超过 90 天"
    text = explain_lifecycle({"lifecycle": "活跃客户", "recency_days": 40, "tenure_days": 400, "frequency": 4,
                              "overdue": True, "mean_interval_days": 10.0, "std_interval_days": 5.0}, t)
    assert text == "活跃客户：90 天内有消费；已逾期：平时约每 10 天消费一次，这次已隔 40 天（超过 20 天）"
    # gaps under a day: several orders on one day, not "every 0 days"
    text = explain_lifecycle({"lifecycle": "流失客户", "recency_days": 200, "tenure_days": 400, "frequency": 4,
                              "overdue": True, "mean_interval_days": 0.3, "std_interval_days": 0.2}, t)
    assert text == ("流失客户：已 200 天未消费，超过 180 天；"
                    "已逾期：平时常同一天多次消费，这次已隔 200 天（超过 0.7 天）")
    assert explain({"lifecycle": "潜在客户", "recency_days": None}, References("mean", 0, 0, 0, 0)) \
        == "潜在客户：还没有消费记录"
    assert money(1800.5) == "¥1,800.50" and money(5200) == "¥5,200"


# --- equal customers, equal scores --------------------------------------------------------------------------

RFM_DEPENDENT = ("r_score", "f_score", "m_score", "rfm_class", "rf_segment", "abc_class", "frequency_tier",
                 "value_tier")


@settings(max_examples=150, deadline=None)
@given(
    people=st.lists(st.tuples(st.integers(0, 400), st.integers(1, 12), st.integers(1, 3000), st.integers(0, 900)),
                    min_size=1, max_size=40),
    pick=st.integers(0, 39), twin_tenure=st.integers(0, 900), twin_id=st.integers(1, 10_000),
    scores=st.sampled_from(["quantile", "fixed"]), tiers=st.sampled_from(["share", "fixed"]),
    reference=st.sampled_from(["mean", "median", "fixed"]),
)
def test_two_customers_with_the_same_r_f_m_get_the_same_scores_and_classes(
    people, pick, twin_tenure, twin_id, scores, tiers, reference
):
    rows = [(10_001 + i, recency, frequency, money, max(tenure, recency))
            for i, (recency, frequency, money, tenure) in enumerate(people)]
    original = rows[pick % len(rows)]
    # the twin: another id (smaller or larger), the same recency, order count and spend, its own tenure
    rows.append((twin_id, original[1], original[2], original[3], max(twin_tenure, original[1])))
    thresholds = dataclasses.replace(Thresholds(), score_method=scores, frequency_tier_method=tiers,
                                     value_tier_method=tiers, rfm_reference=reference)
    got, _ = classify(table(rows), thresholds)
    one, two = (got.filter(pl.col("customer_id") == cid).row(0, named=True) for cid in (original[0], twin_id))
    assert {c: one[c] for c in RFM_DEPENDENT} == {c: two[c] for c in RFM_DEPENDENT}
    # a full twin (the same tenure too) shares every class
    same = got.filter(pl.col("tenure_days") == original[4], pl.col("recency_days") == original[1],
                      pl.col("frequency") == original[2], pl.col("monetary_cents") == original[3] * 100)
    classes = [c for c in got.columns if c not in ("customer_id",)]
    assert same.select(classes).unique().height == 1


def test_the_explanation_gives_the_scores_and_the_tie_rule():
    got, refs = classify(table([(1, 10, 3, 300), (2, 10, 3, 300), (3, 90, 1, 50)]))
    row = got.row(0, named=True)
    lines = explain(row, refs, Thresholds()).splitlines()
    assert lines[1] == (f"R分 {row['r_score']}、F分 {row['f_score']}、M分 {row['m_score']}："
                        "按全部有消费客户的排名五等分，数值相同的客户得分相同（取并列中最低的名次）")
    assert explain(got.row(1, named=True), refs).splitlines()[1] == lines[1]  # the twin reads the same


def test_the_value_sentence_says_purchase_days_revenue_horizon_and_discount():
    row = {"p_alive": 0.853, "expected_purchases_90d": 1.24, "clv": 1234.0, "value_at_risk": 210.0}
    assert explain_value(row, monthly_discount=0.015) == (
        "仍活跃的概率 85%，预计未来 90 天有消费的天数约 1.2 天，"
        "未来 12 个月预计消费额（营收）约 ¥1,234（每月按 1.5% 折现）；"
        "若已流失，损失约 ¥210")
    assert explain_value({"p_alive": None}) == ""
