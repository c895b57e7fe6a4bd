"""The threshold settings form (分层设置): one field per Thresholds field, Chinese labels, grouped.

Built from the dataclass so a new threshold shows up here by adding one line to FIELDS; validated by
`Thresholds.errors()` (the same rules the engine enforces), so the page and the engine never disagree.
"""

from __future__ import annotations

import dataclasses

from django import forms
from django.utils.translation import gettext_lazy as _

from kehu.lib import money
from kehu.lib.ages import AgeBands, BandError

from .engine.classify import Thresholds

METHOD_CHOICES = {
    "score_method": [("quantile", _("五等分（按客户排名）")), ("fixed", _("固定阈值"))],
    "rfm_reference": [("mean", _("平均值")), ("median", _("中位数")), ("fixed", _("固定阈值"))],
    "frequency_tier_method": [("fixed", _("固定次数")), ("share", _("按客户占比"))],
    "value_tier_method": [("share", _("按客户占比")), ("fixed", _("固定金额"))],
}

# (group, [(field, label, help)]) in the order shown on the page.
GROUPS = [
    (_("R/F/M 评分"), [
        ("score_method", _("评分方法"), _(
            "五等分：按客户排名分成 5 组，数值相同的客户得分相同（并列时都取其中最低的名次，不按编号拆开）；"
            "固定阈值：按下面的天数、次数和金额")),
        ("r_score_days", _("R 评分天数"), _("4 个递增的天数：不超过第 1 个得 5 分……超过第 4 个得 1 分")),
        ("f_score_orders", _("F 评分次数"), _("4 个递增的次数：不超过第 1 个得 1 分……超过第 4 个得 5 分")),
        ("m_score_yuan", _("M 评分金额（元）"), _("4 个递增的金额：不超过第 1 个得 1 分……超过第 4 个得 5 分")),
    ]),
    (_("RFM 八类"), [
        ("rfm_reference", _("高低参照"), _("R、F、M 与全体有消费客户的平均值或中位数比较，或用固定阈值")),
        ("rfm_r_days", _("R 高：最近消费不超过（天）"), _("仅在“固定阈值”时使用")),
        ("rfm_f_orders", _("F 高：订单数至少"), _("仅在“固定阈值”时使用")),
        ("rfm_m_yuan", _("M 高：消费金额至少（元）"), _("仅在“固定阈值”时使用")),
        ("window_months", _("统计最近几个月"), _("留空表示全部历史；填 12 表示 F 和 M 只算最近 12 个月")),
    ]),
    (_("消费趋势"), [
        ("trend_months", _("趋势比较月数"), _("最近 N 个月与之前 N 个月比较")),
        ("trend_change", _("趋势变化幅度"), _("变化超过该比例记为上升或下降，0.2 即 20%")),
    ]),
    (_("ABC 分类"), [
        ("abc_a_share", _("A 类累计金额占比"), _("如 0.8：贡献前 80% 金额的客户为 A 类；消费金额相同的客户归入同一类")),
        ("abc_b_share", _("B 类累计金额占比"), _("如 0.95：其后到 95% 为 B 类，其余为 C 类")),
    ]),
    (_("频次与价值等级"), [
        ("frequency_tier_method", _("频次等级方法"), ""),
        ("freq_high_orders", _("高频：订单数至少"), ""),
        ("freq_mid_orders", _("中频：订单数至少"), ""),
        ("value_tier_method", _("价值等级方法"), ""),
        ("value_high_yuan", _("高价值：消费金额至少（元）"), ""),
        ("value_mid_yuan", _("中价值：消费金额至少（元）"), ""),
        ("tier_high_share", _("按占比时“高”的客户占比"), _("如 0.2：前 20% 的客户；数值相同的客户分级相同")),
        ("tier_mid_share", _("按占比时“中”的客户占比"), _("如 0.3：其后 30% 的客户")),
    ]),
    (_("生命周期"), [
        ("new_days", _("新客户：首次消费不超过（天）"), ""),
        ("sleeping_days", _("沉睡客户：超过（天）未消费"), ""),
        ("lost_days", _("流失客户：超过（天）未消费"), ""),
        ("loyal_orders", _("忠诚客户：订单数至少"), ""),
        ("overdue_k", _("逾期系数"), _("距上次消费超过 平均间隔 + 系数 × 标准差 即为逾期未购")),
        ("overdue_min_orders", _("判断逾期所需最少订单数"), ""),
    ]),
    (_("品类偏好"), [
        ("category_loyal_share", _("某品类消费占比至少"), _("如 0.6：某一品类占 60% 以上即为该品类忠实客户")),
        ("category_loyal_min_orders", _("品类忠实所需最少订单数"), ""),
    ]),
    (_("客户价值预测"), [
        ("monthly_discount", _("月折现率"), _("计算未来 12 个月客户价值（CLV）时每月的折现率，0.01 即 1%")),
    ]),
]


def _field(name: str, default, label, help_text) -> forms.Field:
    common = {"label": label, "help_text": help_text}
    if name in METHOD_CHOICES:
        return forms.ChoiceField(choices=METHOD_CHOICES[name], **common)
    if isinstance(default, tuple):
        return forms.CharField(max_length=80, **common)
    if name == "window_months":
        return forms.IntegerField(required=False, min_value=1, max_value=120, **common)
    if isinstance(default, int):
        return forms.IntegerField(min_value=0, **common)
    return forms.FloatField(min_value=0, **common)


def _numbers(text: str, kind: type) -> tuple:
    parts = [p for p in text.replace("，", ",").replace("、", ",").replace(" ", ",").split(",") if p]
    try:
        return tuple(kind(float(p)) if kind is int else float(p) for p in parts)
    except ValueError:
        raise forms.ValidationError(_("请填写用逗号分隔的数字，如 30, 90, 180, 365")) from None


class ThresholdsForm(forms.Form):
    def __init__(self, *args, initial_thresholds: Thresholds | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        defaults = Thresholds()
        current = self.base = initial_thresholds or defaults
        self.groups = []
        for title, entries in GROUPS:
            names = []
            for name, label, help_text in entries:
                self.fields[name] = _field(name, getattr(defaults, name), money.unit_label(label), help_text)
                value = getattr(current, name)
                self.initial[name] = ", ".join(_plain(v) for v in value) if isinstance(value, tuple) else value
                names.append(name)
            self.groups.append((title, names))

    def grouped(self):
        """(title, [bound fields]) for the template."""
        return [(title, [self[name] for name in names]) for title, names in self.groups]

    def clean(self):
        data = super().clean()
        if self.errors:
            return data
        defaults = Thresholds()
        values = {}
        for f in dataclasses.fields(Thresholds):
            if f.name not in self.fields:
                continue
            value = data.get(f.name)
            default = getattr(defaults, f.name)
            if isinstance(default, tuple):
                try:
                    value = _numbers(value or "", int if f.name != "m_score_yuan" else float)
                except forms.ValidationError as error:
                    self.add_error(f.name, error)
                    continue
            values[f.name] = value
        if self.errors:
            return data
        thresholds = dataclasses.replace(self.base, **values)
        for problem in thresholds.errors():
            self.add_error(None, problem)
        self.thresholds = thresholds
        return data


def _plain(value) -> str:
    """30 → '30', 200.0 → '200', 0.5 → '0.5'."""
    return f"{value:g}" if isinstance(value, float) else str(value)


class AgeBandsForm(forms.Form):
    """The age-band boundaries (年龄段分界): ascending ages where a new band begins."""

    boundaries = forms.CharField(
        label=_("年龄段分界（岁）"), max_length=60,
        help_text=_("每个数字是一个年龄段的起点，如 25, 35, 45, 55 分为 <25、25–34、35–44、45–54、55+；"
                    "没有生日的客户为“未知”。保存后立即按新分界重新计算每位客户的年龄段。"))

    def clean_boundaries(self) -> AgeBands:
        try:
            return AgeBands.parse(self.cleaned_data["boundaries"])
        except BandError as error:
            raise forms.ValidationError(str(error)) from None
