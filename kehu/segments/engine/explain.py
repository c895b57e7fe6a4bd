"""Why a customer is in its class, in one Chinese sentence (分层原因).

Works on one classified row (a mapping with the columns :func:`.classify.classify` produces, or the
same names on a stored row) and the :class:`.classify.References` of that run, so the words quote
exactly the numbers the classification compared.

One word per count: 订单 (笔) for orders, which F counts; 消费天数 (天) for purchase days — several orders
on one day are one purchase day — which the churn and value models count.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kehu.lib import money as _money

from .classify import References, Thresholds

REFERENCE_WORDS = {"mean": "平均", "median": "中位数"}


def number(value: float) -> str:
    """3.0 → "3", 3.24 → "3.2", 1234.5 → "1,234.5"."""
    text = f"{value:,.1f}"
    return text[:-2] if text.endswith(".0") else text


def money(value: float) -> str:
    """5200 → "¥5,200", 1800.5 → "¥1,800.50" — in the shop's currency (kehu.lib.money)."""
    return _money.fmt(value, trim=True)


def _compare(high: bool, equal: bool, better: str, worse: str) -> str:
    if equal:
        return "等于"
    return better if high else worse


def explain_rfm(row: Mapping[str, Any], refs: References) -> str:
    """e.g. 最近一次消费 12 天前，优于平均的 45 天；共 8 笔订单，高于平均的 3.2 笔；
    累计消费 ¥5,200，高于平均的 ¥1,800 → 重要价值客户"""
    recency, frequency = int(row["recency_days"]), int(row["frequency"])
    monetary = float(row["monetary"]) if row.get("monetary") is not None else int(row["monetary_cents"]) / 100
    r_high, f_high, m_high = bool(row["r_high"]), bool(row["f_high"]), bool(row["m_high"])
    if refs.method == "fixed":
        parts = [
            f"最近一次消费 {recency} 天前，"
            + (f"在 {number(refs.recency_days)} 天以内" if r_high else f"超过 {number(refs.recency_days)} 天"),
            f"共 {frequency} 笔订单，{'达到' if f_high else '未达到'} {number(refs.frequency)} 笔",
            f"累计消费 {money(monetary)}，{'达到' if m_high else '未达到'} {money(refs.monetary)}",
        ]
    else:
        word = REFERENCE_WORDS[refs.method]
        parts = [
            f"最近一次消费 {recency} 天前，"
            f"{_compare(r_high, recency == refs.recency_days, '优于', '不如')}{word}的 {number(refs.recency_days)} 天",
            f"共 {frequency} 笔订单，"
            f"{_compare(f_high, frequency == refs.frequency, '高于', '低于')}{word}的 {number(refs.frequency)} 笔",
            f"累计消费 {money(monetary)}，"
            f"{_compare(m_high, round(monetary * 100) == round(refs.monetary * 100), '高于', '低于')}"
            f"{word}的 {money(refs.monetary)}",
        ]
    return "；".join(parts) + f" → {row['rfm_class']}"


def explain_lifecycle(row: Mapping[str, Any], thresholds: Thresholds) -> str:
    """e.g. 沉睡客户：已 120 天未消费，超过 90 天"""
    stage = row["lifecycle"]
    if stage == "潜在客户":
        return "潜在客户：还没有消费记录"
    recency, tenure, frequency = int(row["recency_days"]), int(row["tenure_days"]), int(row["frequency"])
    if stage == "流失客户":
        text = f"流失客户：已 {recency} 天未消费，超过 {thresholds.lost_days} 天"
    elif stage == "沉睡客户":
        text = f"沉睡客户：已 {recency} 天未消费，超过 {thresholds.sleeping_days} 天"
    elif stage == "新客户":
        text = f"新客户：首次消费在 {tenure} 天前，不超过 {thresholds.new_days} 天"
    elif stage == "忠诚客户":
        text = (f"忠诚客户：{thresholds.sleeping_days} 天内有消费，"
                f"共 {frequency} 笔订单，达到 {thresholds.loyal_orders} 笔")
    else:
        text = f"活跃客户：{thresholds.sleeping_days} 天内有消费"
    if row.get("overdue"):
        mean, std = row.get("mean_interval_days"), row.get("std_interval_days")
        if mean is not None and std is not None:
            limit = float(mean) + thresholds.overdue_k * float(std)
            usual = "常同一天多次消费" if float(mean) < 1 else f"约每 {number(float(mean))} 天消费一次"
            text += f"；已逾期：平时{usual}，这次已隔 {recency} 天（超过 {number(limit)} 天）"
        else:
            text += "；已逾期"
    return text


def percent(value: float) -> str:
    """0.853 → "85%", 0.004 → "0.4%"."""
    text = f"{value * 100:.0f}%" if value >= 0.01 else f"{value * 100:.1f}%"
    return text


def explain_value(row: Mapping[str, Any], monthly_discount: float = 0.01, months: int = 12) -> str:
    """e.g. 仍活跃的概率 85%，预计未来 90 天有消费的天数约 1.2 天，
    未来 12 个月预计消费额（营收）约 ¥1,234（每月按 1% 折现）；若已流失，损失约 ¥210

    The value (CLV) is revenue: expected purchase days × expected spend per purchase day over ``months``
    months, discounted by ``monthly_discount`` a month. Empty when the churn model was not fitted
    (``p_alive`` missing).
    """
    p_alive = row.get("p_alive")
    if p_alive is None:
        return ""
    text = f"仍活跃的概率 {percent(float(p_alive))}"
    if row.get("expected_purchases_90d") is not None:
        expected = float(row["expected_purchases_90d"])
        text += f"，预计未来 90 天有消费的天数约 {number(expected) if expected >= 0.1 else f'{expected:.2f}'} 天"
    if row.get("clv") is not None:
        text += (f"，未来 {months} 个月预计消费额（营收）约 {money(float(row['clv']))}"
                 f"（每月按 {number(monthly_discount * 100)}% 折现）")
    if row.get("value_at_risk") is not None:
        text += f"；若已流失，损失约 {money(float(row['value_at_risk']))}"
    return text


def explain_scores(row: Mapping[str, Any], thresholds: Thresholds) -> str:
    """e.g. R分 5、F分 1、M分 2：按全部有消费客户的排名五等分，数值相同的客户得分相同

    Empty when the row has no scores.
    """
    if row.get("r_score") is None:
        return ""
    scores = f"R分 {row['r_score']}、F分 {row['f_score']}、M分 {row['m_score']}"
    if thresholds.score_method == "fixed":
        return f"{scores}：按设定的天数、次数和金额分档"
    return f"{scores}：按全部有消费客户的排名五等分，数值相同的客户得分相同（取并列中最低的名次）"


def explain(row: Mapping[str, Any], refs: References, thresholds: Thresholds | None = None) -> str:
    """The RFM sentence, the scores, the lifecycle reason, then (when forecast) the P(alive) part, one per line."""
    t = thresholds or Thresholds()
    if row.get("lifecycle") == "潜在客户" or row.get("recency_days") is None:
        return explain_lifecycle({"lifecycle": "潜在客户"}, t)
    lines = [explain_rfm(row, refs), explain_scores(row, t), explain_lifecycle(row, t),
             explain_value(row, t.monthly_discount)]
    return "\n".join(line for line in lines if line)
