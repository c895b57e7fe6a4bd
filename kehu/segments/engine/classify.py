"""Classifications (客户分类) from a metrics table: RFM scores, the 8-class RFM model, the RF grid, ABC,
frequency and value tiers, lifecycle, overdue and category loyalty.

Pure Narwhals over a table with one row per customer, as made by :mod:`.metrics` (`derive_metrics`),
optionally with extra rows for customers who never bought (``last_order_at`` null). Every number is
in :class:`Thresholds`; :func:`classify` returns the table with the class columns added, plus the
reference values (:class:`References`) that the explanations quote.

Rules, in words (the same words the explanations use):

* **R/F/M scores 1–5.** ``score_method``: ``quantile`` (default): buying customers are ranked and cut in five equal
  groups; R ranks by recency (most recent → 5), F by order count, M by spend in whole cents. Equal values
  get equal scores: tied customers all take the score of the lowest-ranked of them (the tie's first
  place), never split by id or row order — so when 60 % of customers bought once, they all get F分 1.
  ``fixed``: ``r_score_days`` are the upper bounds in days for scores 5, 4, 3, 2 (older → 1);
  ``f_score_orders`` and ``m_score_yuan`` are the upper bounds for scores 1, 2, 3, 4 (more → 5).
* **8-class RFM (RFM分层).** Each of R, F, M is "high" or "low" against ``rfm_reference``: ``mean``
  (default) or ``median`` over buying customers — high means strictly better than the reference
  (recency below it, F or M above it; equal counts as low) — or ``fixed`` — R high when the last
  order is at most ``rfm_r_days`` days ago, F high from ``rfm_f_orders`` orders, M high from
  ``rfm_m_yuan`` yuan. F and M cover the whole history, or the last ``window_months`` months if set.
* **RF grid (RF价值矩阵).** Every (R score, F score) cell maps to exactly one of ten segments, see
  :data:`RF_GRID`.
* **ABC.** Customers sorted by spend (largest first, ties by id): A while the spend of the customers
  before them is under ``abc_a_share`` of the total (so the customer who crosses 80 % is still A), B
  while under ``abc_b_share``, else C; customers with equal spend count as one group and all take the
  class of its last member.
* **Frequency tiers (高频/中频/低频).** ``frequency_tier_method``: ``fixed`` (default): 高频 from
  ``freq_high_orders`` orders, 中频 from ``freq_mid_orders``, else 低频; ``share``: the top
  ``tier_high_share`` of customers by F, the next ``tier_mid_share``, the rest (equal F, equal tier: a
  tie takes the tier of its last member).
* **Value tiers (高价值/中价值/低价值).** ``value_tier_method``: ``share`` (default, scale-free): the top
  20 % of customers by spend, the next 30 %, the rest (ties as for frequency tiers); ``fixed``: from
  ``value_high_yuan`` / ``value_mid_yuan`` yuan.
* **Lifecycle (生命周期)**, first rule that holds: 潜在客户 no order yet; 流失客户 last order more than
  ``lost_days`` days ago; 沉睡客户 more than ``sleeping_days`` days ago; 新客户 first order at most
  ``new_days`` days ago; 忠诚客户 at least ``loyal_orders`` orders; else 活跃客户.
* **Overdue (逾期未购).** With at least ``overdue_min_orders`` orders, the days since the last order
  exceed the customer's own mean gap + ``overdue_k`` × its standard deviation.
* **Category loyalty.** 「<品类>忠实客户」 when one category has at least ``category_loyal_share`` of
  the customer's categorised spend and the customer has at least ``category_loyal_min_orders``
  orders; otherwise 综合客户 (empty when nothing bought had a category).
* **Trend.** Spend in the last ``trend_months`` months against the ``trend_months`` before: 上升 /
  下降 when it changed by more than ``trend_change`` (any spend after none is 上升), else 持平.
* **One customer later.** :func:`cutoffs` keeps where each ranked class (quintile scores, ABC, share
  tiers) begins in a run's table; :func:`classify_customer` places one customer's numbers among them
  and applies the same rules (each written once, for a whole table or one customer's values), so a
  customer's classes can follow its orders between runs without ranking everyone again.
* **Customer value (CLV).** Not a class: the 12-month value that the churn and value models forecast
  (``kehu.segments.pipeline.value_forecast``) is discounted by ``monthly_discount`` a month (1 %).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import narwhals as nw

from .metrics import lazy, names, result

RFM_CLASSES = (
    "重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户",
    "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户",
)


def rfm_class_name(r_high: bool, f_high: bool, m_high: bool) -> str:
    """重要 = M high; 价值 = R and F high, 发展 = R high only, 保持 = F high only, 挽留 = neither."""
    return RFM_CLASSES[(not m_high) * 4 + (not r_high) * 2 + (not f_high)]


# (code, 中文, English) in the order they are listed on screen.
RF_SEGMENTS = (
    ("champions", "冠军客户", "Champions"),
    ("loyal", "忠诚客户", "Loyal"),
    ("potential_loyalists", "潜力客户", "Potential loyalists"),
    ("new", "新客户", "New"),
    ("promising", "有望客户", "Promising"),
    ("need_attention", "需要关注", "Need attention"),
    ("about_to_sleep", "即将沉睡", "About to sleep"),
    ("at_risk", "有流失风险", "At risk"),
    ("cant_lose", "不能失去", "Can't lose"),
    ("hibernating", "沉睡客户", "Hibernating"),
)
RF_SEGMENT_NAMES = tuple(name for _, name, _ in RF_SEGMENTS)
RF_SEGMENT_ENGLISH = {name: english for _, name, english in RF_SEGMENTS}

# Rows R = 5 … 1 (5 = most recent), columns F = 1 … 5 (5 = most orders).
_GRID_ROWS = {
    5: ("新客户", "潜力客户", "潜力客户", "冠军客户", "冠军客户"),
    4: ("有望客户", "潜力客户", "忠诚客户", "冠军客户", "冠军客户"),
    3: ("即将沉睡", "需要关注", "需要关注", "忠诚客户", "忠诚客户"),
    2: ("沉睡客户", "即将沉睡", "有流失风险", "有流失风险", "不能失去"),
    1: ("沉睡客户", "沉睡客户", "有流失风险", "不能失去", "不能失去"),
}
RF_GRID: dict[tuple[int, int], str] = {
    (r, f): row[f - 1] for r, row in _GRID_ROWS.items() for f in range(1, 6)
}

ABC_CLASSES = ("A", "B", "C")
FREQUENCY_TIERS = ("高频", "中频", "低频")
VALUE_TIERS = ("高价值", "中价值", "低价值")
LIFECYCLE_STAGES = ("潜在客户", "新客户", "活跃客户", "忠诚客户", "沉睡客户", "流失客户")
TRENDS = ("上升", "持平", "下降")
GENERAL_CUSTOMER = "综合客户"
LOYAL_SUFFIX = "忠实客户"

SCORE_METHODS = ("quantile", "fixed")
REFERENCE_METHODS = ("mean", "median", "fixed")
TIER_METHODS = ("fixed", "share")


@dataclass(frozen=True)
class Thresholds:
    """Every number the classifications use; stored as JSON in SegmentSettings and editable."""

    score_method: str = "quantile"
    r_score_days: tuple[int, ...] = (30, 90, 180, 365)   # recency ≤ 30 → 5, ≤ 90 → 4, ≤ 180 → 3, ≤ 365 → 2
    f_score_orders: tuple[int, ...] = (1, 2, 4, 8)        # F ≤ 1 → 1, ≤ 2 → 2, ≤ 4 → 3, ≤ 8 → 4, more → 5
    m_score_yuan: tuple[float, ...] = (200, 500, 1000, 3000)

    rfm_reference: str = "mean"
    rfm_r_days: int = 90
    rfm_f_orders: int = 3
    rfm_m_yuan: float = 1000

    window_months: int | None = None   # F and M over the last N months instead of the whole history
    trend_months: int = 3
    trend_change: float = 0.2

    abc_a_share: float = 0.80
    abc_b_share: float = 0.95

    frequency_tier_method: str = "fixed"
    freq_high_orders: int = 6
    freq_mid_orders: int = 2
    value_tier_method: str = "share"
    value_high_yuan: float = 5000
    value_mid_yuan: float = 1000
    tier_high_share: float = 0.20
    tier_mid_share: float = 0.30

    new_days: int = 30
    sleeping_days: int = 90
    lost_days: int = 180
    loyal_orders: int = 5

    overdue_k: float = 2.0
    overdue_min_orders: int = 3

    category_loyal_share: float = 0.6
    category_loyal_min_orders: int = 2

    monthly_discount: float = 0.01   # for the 12-month customer value (CLV): 1 % a month

    extra: dict = field(default_factory=dict, compare=False, repr=False)  # unknown keys, kept as given

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data.pop("extra")
        return {k: list(v) if isinstance(v, tuple) else v for k, v in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Thresholds:
        """Defaults overridden by `data`; raises ValueError with Chinese messages if invalid."""
        names = {f.name for f in dataclasses.fields(cls)} - {"extra"}
        known = {k: tuple(v) if isinstance(v, list) else v for k, v in (data or {}).items() if k in names}
        thresholds = cls(**known, extra={k: v for k, v in (data or {}).items() if k not in names})
        errors = thresholds.errors()
        if errors:
            raise ValueError("；".join(errors))
        return thresholds

    def errors(self) -> list[str]:
        """What is wrong, in Chinese, for the settings form."""
        problems = []
        if self.score_method not in SCORE_METHODS:
            problems.append(f"评分方法只能是 {'/'.join(SCORE_METHODS)}")
        if self.rfm_reference not in REFERENCE_METHODS:
            problems.append(f"RFM 参照只能是 {'/'.join(REFERENCE_METHODS)}")
        if self.frequency_tier_method not in TIER_METHODS or self.value_tier_method not in TIER_METHODS:
            problems.append(f"分级方法只能是 {'/'.join(TIER_METHODS)}")
        for label, edges in (("R 评分天数", self.r_score_days), ("F 评分次数", self.f_score_orders),
                             ("M 评分金额", self.m_score_yuan)):
            if len(edges) != 4 or list(edges) != sorted(edges) or len(set(edges)) != 4:
                problems.append(f"{label}需要 4 个递增的数")
        if not 0 < self.abc_a_share < self.abc_b_share <= 1:
            problems.append("ABC 分类需要 0 < A 类占比 < B 类占比 ≤ 1")
        if not (self.tier_high_share > 0 and self.tier_high_share + self.tier_mid_share <= 1):
            problems.append("分级占比需要 0 < 高 且 高 + 中 ≤ 1")
        if not self.freq_high_orders > self.freq_mid_orders >= 1:
            problems.append("高频次数需要大于中频次数")
        if not self.value_high_yuan > self.value_mid_yuan >= 0:
            problems.append("高价值金额需要大于中价值金额")
        if not (self.new_days > 0 and self.sleeping_days < self.lost_days):
            problems.append("生命周期需要 新客户天数 > 0 且 沉睡天数 < 流失天数")
        if self.sleeping_days <= 0:
            problems.append("沉睡天数需要大于 0")
        if self.trend_months < 1 or (self.window_months is not None and self.window_months < 1):
            problems.append("月数需要至少为 1")
        if not 0 < self.category_loyal_share <= 1:
            problems.append("品类忠实占比需要在 0 到 1 之间")
        if not 0 <= self.monthly_discount < 1:
            problems.append("月折现率需要在 0 到 1 之间")
        return problems


@dataclass(frozen=True)
class References:
    """What R, F and M were compared with for the 8-class model (quoted by the explanations)."""

    method: str            # mean / median / fixed
    recency_days: float
    frequency: float
    monetary: float        # yuan
    customers: int         # buying customers classified

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> References:
        return cls(**data)

    def later(self, days: int) -> References:
        """The references `days` days after their run: a mean or median recency grows with everyone's."""
        if self.method == "fixed" or not days:
            return self
        return dataclasses.replace(self, recency_days=self.recency_days + days)


def _score_position(column: str, *, descending: bool = False) -> nw.Expr:
    """0-based position from worst to best; equal values share the first position of their tie."""
    return (nw.col(column).rank(method="min", descending=descending) - 1).cast(nw.Int64)


def _tier_position(column: str) -> nw.Expr:
    """0-based position from the largest value down; equal values share the last position of their tie."""
    return (nw.col(column).rank(method="max", descending=True) - 1).cast(nw.Int64)


def _quantile_score(position: str, n: int) -> nw.Expr:
    return (nw.col(position) * 5 // max(n, 1) + 1).cast(nw.Int8)


def _limit(share: float, whole: int) -> int:
    """The integer limit of `count / whole < share` as `count < limit`, the share taken as the decimal it is
    written as: exact, where dividing in floats would depend on the backend's division at the boundary."""
    return math.ceil(Fraction(str(share)) * whole)


def _share_tier(position: str, n: int, high: float, mid: float, names: tuple[str, str, str]) -> nw.Expr:
    n = max(n, 1)
    high_limit, mid_limit = _limit(high, n), math.ceil((Fraction(str(high)) + Fraction(str(mid))) * n)
    return nw.when(nw.col(position) < high_limit).then(nw.lit(names[0])) \
        .when(nw.col(position) < mid_limit).then(nw.lit(names[1])).otherwise(nw.lit(names[2]))


# --- the rules, written once ----------------------------------------------------------------------------
# Each rule takes either Narwhals expressions (a whole table, in `classify`) or one customer's plain
# values (in `classify_customer`), so the table and the single customer follow the same words.

def _first_case(cases: list[tuple[Any, Any]], default: Any) -> Any:
    """The value of the first case whose condition holds, else `default`: a when/then chain over
    expressions, or the value itself over plain values."""
    if not any(isinstance(condition, nw.Expr) for condition, _ in cases):
        return next((value for condition, value in cases if condition), default)
    expr = None
    for condition, value in cases:
        value = value if isinstance(value, nw.Expr) else nw.lit(value)
        expr = nw.when(condition).then(value) if expr is None else expr.when(condition).then(value)
    return expr.otherwise(default if isinstance(default, nw.Expr) else nw.lit(default))


def score_up(value: Any, edges: tuple[float, ...]) -> Any:
    """Fixed F or M score: upper bounds for scores 1..4; above the last → 5."""
    return _first_case([(value <= edge, score) for score, edge in enumerate(edges, start=1)], 5)


def score_recency(recency_days: Any, edges: tuple[float, ...]) -> Any:
    """Fixed R score: upper bounds in days for scores 5..2; older → 1."""
    return _first_case([(recency_days <= edge, score) for score, edge in zip((5, 4, 3, 2), edges, strict=True)], 1)


def high_flags(recency_days: Any, frequency: Any, monetary_cents: Any, refs: References) -> tuple[Any, Any, Any]:
    """(R high, F high, M high) against the references of the 8-class model."""
    if refs.method == "fixed":
        return (recency_days <= refs.recency_days, frequency >= refs.frequency,
                monetary_cents >= round(refs.monetary * 100))
    return recency_days < refs.recency_days, frequency > refs.frequency, monetary_cents > refs.monetary * 100


def fixed_tiers(frequency: Any, monetary_cents: Any, t: Thresholds) -> tuple[Any, Any]:
    """(frequency tier, value tier) by the fixed numbers (used when the tier method is ``fixed``)."""
    frequency_tier = _first_case([(frequency >= t.freq_high_orders, "高频"), (frequency >= t.freq_mid_orders, "中频")],
                                 "低频")
    value_tier = _first_case([(monetary_cents >= round(t.value_high_yuan * 100), "高价值"),
                              (monetary_cents >= round(t.value_mid_yuan * 100), "中价值")], "低价值")
    return frequency_tier, value_tier


def lifecycle_stage(recency_days: Any, tenure_days: Any, frequency: Any, t: Thresholds) -> Any:
    return _first_case([
        (recency_days > t.lost_days, "流失客户"), (recency_days > t.sleeping_days, "沉睡客户"),
        (tenure_days <= t.new_days, "新客户"), (frequency >= t.loyal_orders, "忠诚客户"),
    ], "活跃客户")


def is_overdue(recency_days: Any, mean_interval: Any, std_interval: Any, orders: Any, t: Thresholds) -> Any:
    """Enough orders and longer since the last one than the customer's own mean gap + k × its deviation."""
    enough = orders >= max(t.overdue_min_orders, 3)
    if isinstance(recency_days, nw.Expr):
        return (enough & (recency_days.cast(nw.Float64) > mean_interval + t.overdue_k * std_interval)).fill_null(False)
    return bool(enough and mean_interval is not None and std_interval is not None
                and recency_days > mean_interval + t.overdue_k * std_interval)


def category_class(category_cents: Any, top_cents: Any, top_name: Any, frequency: Any, t: Thresholds) -> Any:
    """「<品类>忠实客户」, 综合客户, or empty when nothing bought had a category."""
    if isinstance(category_cents, nw.Expr):
        loyal = (top_cents.cast(nw.Float64) >= t.category_loyal_share * category_cents.cast(nw.Float64)) \
            & (frequency >= t.category_loyal_min_orders)
        return _first_case([(category_cents.fill_null(0) <= 0, ""),
                            (loyal, nw.concat_str(top_name.cast(nw.String), nw.lit(LOYAL_SUFFIX)))],
                           GENERAL_CUSTOMER).fill_null("")
    if not category_cents or category_cents <= 0:
        return ""
    if top_cents is None or top_cents < t.category_loyal_share * category_cents \
            or frequency < t.category_loyal_min_orders:
        return GENERAL_CUSTOMER
    return f"{top_name}{LOYAL_SUFFIX}" if top_name is not None else ""


def trend_word(recent_cents: Any, previous_cents: Any, t: Thresholds) -> Any:
    """上升 / 持平 / 下降 of the recent spend against the spend before it (empty when neither)."""
    return _first_case([
        ((recent_cents == 0) & (previous_cents == 0), ""), (previous_cents == 0, "上升"),
        (recent_cents > previous_cents * (1 + t.trend_change), "上升"),
        (recent_cents < previous_cents * (1 - t.trend_change), "下降"),
    ], "持平")


def _reference_values(buyers: nw.LazyFrame, thresholds: Thresholds) -> tuple[References, int]:
    """(the references, the buyers' total spend in cents): every scalar the ranking needs, in one small collect."""
    agg = "median" if thresholds.rfm_reference == "median" else "mean"
    row = buyers.select(
        nw.len().alias("n"),
        nw.col("monetary_cents").sum().alias("total"),
        getattr(nw.col("recency_days").cast(nw.Float64), agg)().alias("r"),
        getattr(nw.col("frequency").cast(nw.Float64), agg)().alias("f"),
        getattr(nw.col("monetary_cents").cast(nw.Float64), agg)().alias("m"),
    ).collect().row(0)
    n, total = int(row[0] or 0), int(row[1] or 0)
    if thresholds.rfm_reference == "fixed":
        refs = References("fixed", float(thresholds.rfm_r_days), float(thresholds.rfm_f_orders),
                          float(thresholds.rfm_m_yuan), n)
    elif n == 0:
        refs = References(thresholds.rfm_reference, 0.0, 0.0, 0.0, 0)
    else:
        refs = References(thresholds.rfm_reference, float(row[2]), float(row[3]), float(row[4]) / 100, n)
    return refs, total


def references(buyers: Any, thresholds: Thresholds) -> References:
    """The mean or median of recency, F and M (yuan) over buying customers, or the fixed thresholds."""
    return _reference_values(lazy(buyers)[0], thresholds)[0]


def _buyer_column(frame: nw.LazyFrame) -> str:
    return "last_order_at" if "last_order_at" in names(frame) else "last_us"


def classify(metrics: Any, thresholds: Thresholds | None = None) -> tuple[Any, References]:
    """Add the class columns to a metrics table; returns (table sorted by customer id, references).

    Needs ``customer_id``, ``last_order_at`` or ``last_us`` (null for customers who never bought),
    ``frequency``, ``monetary_cents``, ``recency_days``, ``tenure_days``; uses ``mean_interval_days`` /
    ``std_interval_days``, ``top_category`` / ``top_category_cents`` / ``category_cents`` and
    ``spend_recent_cents`` / ``spend_previous_cents`` when present.
    Customers who never bought get lifecycle 潜在客户, empty text in the other class columns and null scores.
    The table comes back eager or lazy as it came in; the references (and the ranks' count) are the one
    small collect.

    Rankings (quintile scores, share tiers) and the ABC running sum are windows over all buying customers:
    on a distributed backend they run in one partition.
    """
    t = thresholds or Thresholds()
    frame, eager = lazy(metrics)
    bought = ~nw.col(_buyer_column(frame)).is_null()
    buyers = frame.filter(bought)
    refs, total = _reference_values(buyers, t)
    n = refs.customers
    recency, frequency, monetary = nw.col("recency_days"), nw.col("frequency"), nw.col("monetary_cents")

    if t.score_method == "quantile":
        scored = buyers.with_columns(
            _r=_score_position("recency_days", descending=True), _f=_score_position("frequency"),
            _m=_score_position("monetary_cents"),
        ).with_columns(
            r_score=_quantile_score("_r", n), f_score=_quantile_score("_f", n), m_score=_quantile_score("_m", n),
        )
    else:
        scored = buyers.with_columns(
            _r=nw.lit(0), _f=nw.lit(0), _m=nw.lit(0),
            r_score=score_recency(recency, t.r_score_days).cast(nw.Int8),
            f_score=score_up(frequency, t.f_score_orders).cast(nw.Int8),
            m_score=score_up(monetary, tuple(round(y * 100) for y in t.m_score_yuan)).cast(nw.Int8),
        )

    r_high, f_high, m_high = high_flags(recency, frequency, monetary, refs)
    scored = scored.with_columns(r_high=r_high, f_high=f_high, m_high=m_high).with_columns(
        _rfm_code=((~nw.col("m_high")).cast(nw.Int64) * 4 + (~nw.col("r_high")).cast(nw.Int64) * 2
                   + (~nw.col("f_high")).cast(nw.Int64)),
        _grid_code=(nw.col("r_score").cast(nw.Int64) - 1) * 5 + nw.col("f_score").cast(nw.Int64) - 1,
    )
    grid_names = [RF_GRID[(r, f)] for r in range(1, 6) for f in range(1, 6)]
    scored = scored.with_columns(
        rfm_class=nw.col("_rfm_code").replace_strict(list(range(8)), list(RFM_CLASSES), default="",
                                                     return_dtype=nw.String),
        rf_segment=nw.col("_grid_code").replace_strict(list(range(25)), grid_names, default="",
                                                       return_dtype=nw.String),
        _less=-nw.col("monetary_cents").cast(nw.Int64),
    )

    # ABC by cumulative spend, largest first; equal spend, equal class (that of the tie's last member, whose
    # running sum is the spend of everyone with at least as much: the same whatever order the tie ran in).
    scored = scored.with_columns(
        _through=nw.col("monetary_cents").cast(nw.Int64).cum_sum().over(order_by=["_less", "customer_id"]),
    ).with_columns(
        _before=nw.col("_through").max().over("monetary_cents") - nw.col("monetary_cents"),
    )
    if total > 0:
        before = nw.col("_before")
        abc = nw.when(before < _limit(t.abc_a_share, total)).then(nw.lit("A")) \
            .when(before < _limit(t.abc_b_share, total)).then(nw.lit("B")).otherwise(nw.lit("C"))
    else:
        abc = nw.lit("C")
    scored = scored.with_columns(abc_class=abc, _mpos=_tier_position("monetary_cents"))

    # Frequency and value tiers.
    fixed_frequency_tier, fixed_value_tier = fixed_tiers(frequency, monetary, t)
    if t.frequency_tier_method == "fixed":
        frequency_tier = fixed_frequency_tier
    else:
        scored = scored.with_columns(_fpos=_tier_position("frequency"))
        frequency_tier = _share_tier("_fpos", n, t.tier_high_share, t.tier_mid_share, FREQUENCY_TIERS)
    if t.value_tier_method == "fixed":
        value_tier = fixed_value_tier
    else:
        value_tier = _share_tier("_mpos", n, t.tier_high_share, t.tier_mid_share, VALUE_TIERS)
    scored = scored.with_columns(frequency_tier=frequency_tier, value_tier=value_tier)

    # Lifecycle, overdue, category loyalty, trend.
    columns = names(scored)
    if "std_interval_days" in columns:
        orders = nw.col("lifetime_frequency" if "lifetime_frequency" in columns else "frequency")
        overdue = is_overdue(recency, nw.col("mean_interval_days"), nw.col("std_interval_days"), orders, t)
    else:
        overdue = nw.lit(False)
    if "top_category" in columns:
        category_loyalty = category_class(nw.col("category_cents"), nw.col("top_category_cents"),
                                          nw.col("top_category"), frequency, t)
    else:
        category_loyalty = nw.lit("")
    if "spend_recent_cents" in columns:
        trend = trend_word(nw.col("spend_recent_cents").cast(nw.Float64),
                           nw.col("spend_previous_cents").cast(nw.Float64), t)
    else:
        trend = nw.lit("")
    scored = scored.with_columns(
        lifecycle=lifecycle_stage(recency, nw.col("tenure_days"), frequency, t), overdue=overdue,
        category_loyalty=category_loyalty, trend=trend,
    ).drop(*(c for c in names(scored) if c.startswith("_")))

    schema = scored.collect_schema()
    class_columns = [c for c in schema.names() if c not in names(frame)]
    others = frame.filter(~bought).with_columns(
        *((nw.lit("") if schema[c] == nw.String else nw.lit(None).cast(schema[c])).alias(c) for c in class_columns),
    ).with_columns(lifecycle=nw.lit("潜在客户"), overdue=nw.lit(False))
    everyone = nw.concat([scored, others.select(schema.names())], how="vertical")
    return result(everyone.sort("customer_id"), eager), refs


# --- one customer against a run's cut-offs --------------------------------------------------------------

def _rankings(t: Thresholds) -> dict[str, tuple[str, bool, tuple]]:
    """The classes that come from a customer's place in a ranking of all buying customers:
    column → (ranked by, largest first?, classes in ranking order). Ties go by customer id."""
    ranked: dict[str, tuple[str, bool, tuple]] = {}
    if t.score_method == "quantile":
        ranked |= {"r_score": ("recency_days", True, (1, 2, 3, 4, 5)),
                   "f_score": ("frequency", False, (1, 2, 3, 4, 5)),
                   "m_score": ("monetary_cents", False, (1, 2, 3, 4, 5))}
    ranked["abc_class"] = ("monetary_cents", True, ABC_CLASSES)
    if t.frequency_tier_method == "share":
        ranked["frequency_tier"] = ("frequency", True, FREQUENCY_TIERS)
    if t.value_tier_method == "share":
        ranked["value_tier"] = ("monetary_cents", True, VALUE_TIERS)
    return ranked


def cutoffs(classified: Any, thresholds: Thresholds) -> dict[str, list]:
    """Where each ranked class of a classified table begins (the run's quintile, ABC and share cut-offs).

    Per column of :func:`_rankings`, for each class after the first: ``[value]`` of the first buying
    customers, in ranking order, who are in that class or a later one (equal values are never split
    between classes); None when there is none. Plain JSON, stored with the run, so one customer can be
    placed later (:func:`classify_customer`). One small collect, on any backend.
    """
    frame = lazy(classified)[0]
    ranked = _rankings(thresholds)
    firsts = []
    for column, (by, descending, classes) in ranked.items():
        for i, name in enumerate(classes):
            value = nw.when(nw.col(column) == name).then(nw.col(by))
            firsts.append((value.max() if descending else value.min()).alias(f"{column}:{i}"))
    row = frame.select(*firsts).collect().row(0)
    found: dict[str, list] = {}
    position = 0
    for column, (_, _, classes) in ranked.items():
        values = [None if value is None else [int(value)] for value in row[position:position + len(classes)]]
        position += len(classes)
        # Classes are runs of the ranking, so a class or a later one begins where the next non-empty one does.
        found[column] = [next((first for first in values[i:] if first is not None), None)
                         for i in range(1, len(classes))]
    return found


def _place(value: int, descending: bool, classes: tuple, bounds: list) -> Any:
    """The class of a value among the bounds of :func:`cutoffs` (a value equal to a bound is in its class)."""
    index = 0
    for i, bound in enumerate(bounds, start=1):
        if bound is None:
            break
        if value > bound[0] if descending else value < bound[0]:
            break
        index = i
    return classes[index]


def classify_customer(row: dict[str, Any], thresholds: Thresholds, refs: References, bounds: dict[str, list],
                      days_since_run: int = 0) -> dict[str, Any]:
    """The class columns of one customer, with the rules of :func:`classify`, the run's references and,
    for the ranked classes, its cut-offs (:func:`cutoffs`): the customer is placed where its numbers
    fall in that run's ranking, without ranking everyone again.

    `row` has the metric columns of one customer (``recency_days`` None when it never bought), as of a
    day `days_since_run` days after the run's: recency is compared as of the run's day, where the
    references and cut-offs were taken (everyone's recency grows by the same days).
    """
    t = thresholds
    recency, frequency, monetary = row.get("recency_days"), row.get("frequency"), row.get("monetary_cents")
    if recency is None:
        return {"r_score": None, "f_score": None, "m_score": None, "r_high": None, "f_high": None,
                "m_high": None, "rfm_class": "", "rf_segment": "", "abc_class": "", "frequency_tier": "",
                "value_tier": "", "lifecycle": "潜在客户", "overdue": False, "category_loyalty": "", "trend": ""}
    values = {"recency_days": recency - days_since_run, "frequency": frequency, "monetary_cents": monetary}
    placed = {column: _place(values[by], descending, classes, bounds[column])
              for column, (by, descending, classes) in _rankings(t).items()}
    if t.score_method != "quantile":
        placed |= {"r_score": score_recency(recency, t.r_score_days),
                   "f_score": score_up(frequency, t.f_score_orders),
                   "m_score": score_up(monetary, tuple(round(y * 100) for y in t.m_score_yuan))}
    fixed_frequency_tier, fixed_value_tier = fixed_tiers(frequency, monetary, t)
    placed.setdefault("frequency_tier", fixed_frequency_tier)
    placed.setdefault("value_tier", fixed_value_tier)
    flags = high_flags(recency, frequency, monetary, refs.later(days_since_run))
    r_high, f_high, m_high = (bool(flag) for flag in flags)
    orders = row.get("lifetime_frequency", frequency)
    return placed | {
        "r_high": r_high, "f_high": f_high, "m_high": m_high, "rfm_class": rfm_class_name(r_high, f_high, m_high),
        "rf_segment": RF_GRID[(placed["r_score"], placed["f_score"])],
        "lifecycle": lifecycle_stage(recency, row["tenure_days"], frequency, t),
        "overdue": is_overdue(recency, row.get("mean_interval_days"), row.get("std_interval_days"), orders, t),
        "category_loyalty": category_class(row.get("category_cents"), row.get("top_category_cents"),
                                           row.get("top_category"), frequency, t),
        "trend": trend_word(row.get("spend_recent_cents", 0), row.get("spend_previous_cents", 0), t),
    }
