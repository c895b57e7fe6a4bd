"""Custom rule segments (规则分群): rules over profile fields, metrics and classes that describe themselves
in words and turn into one queryset condition.

Rules are plain JSON, nested AND/OR groups of conditions; a condition may list several values:

    {"op": "and", "items": [
        {"field": "province", "op": "in", "values": ["广东省", "浙江省"]},
        {"field": "frequency", "op": "between", "values": [3, 10]},
        {"field": "registered_at", "op": "within_days", "values": [30]},
        {"op": "or", "items": [{"field": "rfm_class", "op": "in", "values": ["重要价值客户"]},
                               {"field": "tags", "op": "in", "values": ["VIP"]}]}]}

    describe(rules) → "广东省或浙江省 且 订单数 ≥ 3 笔 且 （RFM分层：重要价值客户 或 标签：VIP）"
    condition(rules) → a Q over Customer; Customer.objects.filter(condition(rules)).distinct()

Metrics and classes come from the customer's latest classification (CustomerSegment, `segment__…`), so
a rule is evaluated live against the current classes whenever the list is opened.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kehu.customers.models import CompanySize, Gender, Kind, age_bands
from kehu.lib import ages, money
from kehu.lib.labels import class_label

from .models import CLASS_LABELS, CLASS_NAMES


@dataclass(frozen=True)
class Field:
    label: str
    lookup: str
    kind: str            # text, choice, number, money, days, date, bool, id
    unit: str = ""


FIELDS: dict[str, Field] = {
    "province": Field(gettext_lazy("省份"), "province", "text"),
    "city": Field(gettext_lazy("城市"), "city", "text"),
    "industry": Field(gettext_lazy("行业"), "industry", "text"),
    "company_size": Field(gettext_lazy("公司规模"), "company_size", "text"),
    "tags": Field(gettext_lazy("标签"), "tags__name", "text"),
    "grade": Field(gettext_lazy("客户评级"), "grade", "text"),
    "owner": Field(gettext_lazy("负责人"), "owner_id", "id"),
    "source": Field(gettext_lazy("来源渠道"), "source", "text"),
    "kind": Field(gettext_lazy("类型"), "kind", "text"),
    "registered_at": Field(gettext_lazy("注册时间"), "registered_at", "date"),
    "first_order_at": Field(gettext_lazy("首次消费日期"), "metrics__first_order_at", "date"),
    "last_order_at": Field(gettext_lazy("最近消费日期"), "metrics__last_order_at", "date"),
    "gender": Field(gettext_lazy("性别"), "gender", "choice"),
    # Only roles that see birthdays in full may use a rule naming the age band (customers.filters).
    "age_band": Field(gettext_lazy("年龄段"), "age_band", "choice"),
    "recency_days": Field(gettext_lazy("最近消费"), "segment__last_order_day", "days", gettext_lazy("天前")),
    "frequency": Field(gettext_lazy("订单数"), "segment__frequency", "number", gettext_lazy("笔")),
    "monetary": Field(gettext_lazy("消费金额"), "segment__monetary", "money"),
    "avg_order_value": Field(gettext_lazy("客单价"), "segment__avg_order_value", "money"),
    **{column: Field(CLASS_LABELS[column], f"segment__{column}", "choice") for column in CLASS_NAMES},
    "trend": Field(gettext_lazy("消费趋势"), "segment__trend", "choice"),
    "overdue": Field(gettext_lazy("逾期未购"), "segment__overdue", "bool"),
}
# Stored codes shown by their Chinese label ("个人", not "person").
CHOICE_LABELS: dict[str, dict[str, str]] = {
    "kind": dict(Kind.choices),
    "company_size": dict(CompanySize.choices),
    "gender": dict(Gender.choices),
}
# Fields shown without their label when listed ("广东省" reads better than "省份：广东省").
BARE = {"province", "city"}
NUMBER_OPS = {"gte": "≥", "lte": "≤", "gt": ">", "lt": "<", "eq": "=", "between": gettext_lazy("介于")}
DATE_OPS = {"before": gettext_lazy("早于"), "after": gettext_lazy("晚于"), "within_days": gettext_lazy("最近 N 天内")}
LIST_OPS = ("in", "not_in")
# The comparisons each kind of field offers (the builder shows only these).
OPS_BY_KIND: dict[str, tuple[str, ...]] = {
    "text": LIST_OPS, "choice": LIST_OPS, "id": LIST_OPS, "bool": ("in",),
    "number": tuple(NUMBER_OPS), "money": tuple(NUMBER_OPS), "days": tuple(NUMBER_OPS), "date": tuple(DATE_OPS),
}


class RuleError(ValueError):
    """Rules that cannot be evaluated; the message is Chinese, for the form."""


def _number(field: Field, value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise RuleError(_("%(field)s需要一个数字，而不是“%(value)s”")
                        % {"field": field.label, "value": value}) from None


_DAY = re.compile(r"(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?")


def _date(field: Field, value: Any) -> datetime.date:
    """2024-01-31, 2024/1/31, 2024.1.31 or 2024年1月31日."""
    found = _DAY.fullmatch(str(value).strip())
    if found:
        with contextlib.suppress(ValueError):  # 2024-02-30
            return datetime.date(*(int(part) for part in found.groups()))
    raise RuleError(_("%(field)s需要一个日期（如 2024-01-31），而不是“%(value)s”")
                    % {"field": field.label, "value": value})


def _check(node: dict, depth: int = 0) -> None:
    if depth > 5:
        raise RuleError(_("条件嵌套太深（最多 5 层）"))
    if "items" in node:
        if node.get("op", "and") not in ("and", "or"):
            raise RuleError(_("条件组只能是“且”或“或”"))
        if not node["items"]:
            raise RuleError(_("条件组不能为空"))
        for item in node["items"]:
            _check(item, depth + 1)
        return
    name = node.get("field")
    if name not in FIELDS:
        raise RuleError(_("未知字段：%(name)s") % {"name": name})
    field, op, values = FIELDS[name], node.get("op", "in"), node.get("values") or []
    if not values:
        raise RuleError(_("%(field)s至少需要一个值") % {"field": field.label})
    if field.kind in ("number", "money", "days"):
        if op not in NUMBER_OPS:
            raise RuleError(_("%(field)s只能用 ≥ ≤ > < = 或“介于”比较") % {"field": field.label})
        if op == "between":
            if len(values) != 2:
                raise RuleError(_("%(field)s“介于”需要两个数，如 3、10") % {"field": field.label})
            low, high = (_number(field, v) for v in values)
            if low > high:
                raise RuleError(_("%(field)s“介于”的第一个数不能大于第二个数") % {"field": field.label})
        elif len(values) != 1:
            raise RuleError(_("%(field)s只能和一个数比较") % {"field": field.label})
        else:
            _number(field, values[0])
    elif field.kind == "date":
        if op not in DATE_OPS:
            raise RuleError(_("%(field)s只能用“早于”“晚于”或“最近 N 天内”") % {"field": field.label})
        if len(values) != 1:
            raise RuleError(_("%(field)s只能和一个值比较") % {"field": field.label})
        if op == "within_days":
            days = _number(field, values[0])
            if days < 0 or days != days.to_integral_value():
                raise RuleError(_("%(field)s“最近 N 天内”需要一个不小于 0 的整数") % {"field": field.label})
        else:
            _date(field, values[0])
    elif field.kind == "bool":
        if op != "in" or len(values) != 1 or not isinstance(values[0], bool):
            raise RuleError(_("%(field)s只能是“是”或“否”") % {"field": field.label})
    else:
        if op not in LIST_OPS:
            raise RuleError(_("%(field)s只能用“是”或“不是”") % {"field": field.label})
        if field.kind == "choice":
            names = _choices(name)
            unknown = [v for v in values if v not in names]
            if unknown:
                raise RuleError(_("%(field)s没有“%(value)s”这一类") % {"field": field.label, "value": unknown[0]})
        if field.kind == "id" and not all(str(v).isdigit() for v in values):
            raise RuleError(_("%(field)s需要用户编号") % {"field": field.label})


def _choices(name: str) -> tuple[str, ...]:
    if name == "gender":
        return tuple(Gender.values)
    if name == "age_band":
        return (*age_bands().keys, ages.UNKNOWN)
    return CLASS_NAMES.get(name, ("上升", "持平", "下降"))


def uses_age_band(rules: dict) -> bool:
    """Whether the rules look at the age band anywhere (then only roles that see birthdays list the members)."""
    if "items" in rules:
        return any(uses_age_band(item) for item in rules["items"])
    return rules.get("field") == "age_band"


def validate(rules: dict) -> list[str]:
    """What is wrong with the rules, in Chinese (empty when they can be evaluated)."""
    try:
        _check(rules)
    except RuleError as error:
        return [str(error)]
    return []


def condition(rules: dict) -> Q:
    """The rules as one Q over Customer (raises RuleError for invalid rules). Filter with .distinct():
    a tag condition joins the tags."""
    _check(rules)
    return _q(rules)


def _q(node: dict) -> Q:
    if "items" in node:
        parts = [_q(item) for item in node["items"]]
        result = parts[0]
        for part in parts[1:]:
            result = (result | part) if node.get("op", "and") == "or" else (result & part)
        return result
    field, op, values = FIELDS[node["field"]], node.get("op", "in"), node["values"]
    if field.kind == "days":
        return _days_q(field, op, [_number(field, v) for v in values])
    if field.kind in ("number", "money"):
        if op == "between":
            return Q(**{f"{field.lookup}__range": (_number(field, values[0]), _number(field, values[1]))})
        value = _number(field, values[0])
        return Q(**{field.lookup if op == "eq" else f"{field.lookup}__{op}": value})
    if field.kind == "date":
        lookup = f"{field.lookup}__lt" if op == "before" else f"{field.lookup}__gte"
        return Q(**{lookup: _date_start(field, op, values[0])})
    if field.kind == "bool":
        return Q(**{field.lookup: values[0]})
    q = Q(**{f"{field.lookup}__in": [int(v) for v in values] if field.kind == "id" else list(values)})
    return ~q if op == "not_in" else q


def _days_q(field: Field, op: str, values: list[Decimal]) -> Q:
    """A condition on the whole days since the last purchase (as of today) as one on the last purchase day."""
    today = timezone.localdate()

    def ago(days: int) -> datetime.date:
        try:
            return today - datetime.timedelta(days=days)
        except OverflowError:
            return datetime.date.min if days > 0 else datetime.date.max

    low = {"lte": None, "lt": None, "gte": math.ceil(values[0]), "gt": math.floor(values[0]) + 1,
           "eq": values[0], "between": math.ceil(values[0])}[op]
    high = {"lte": math.floor(values[0]), "lt": math.ceil(values[0]) - 1, "gte": None, "gt": None,
            "eq": values[0], "between": math.floor(values[-1])}[op]
    if op == "eq" and values[0] != values[0].to_integral_value():
        return Q(pk__in=[])
    q = Q(**{f"{field.lookup}__isnull": False})
    if high is not None:
        q &= Q(**{f"{field.lookup}__gte": ago(int(high))})
    if low is not None:
        q &= Q(**{f"{field.lookup}__lte": ago(int(low))})
    return q


def _date_start(field: Field, op: str, value: Any) -> datetime.datetime:
    """The instant a date condition compares with, in the shop's time zone: 早于 D is before D's midnight,
    晚于 D from the midnight after D, 最近 N 天内 from the midnight N days ago (today counts as one of them)."""
    if op == "within_days":
        day = timezone.localdate() - datetime.timedelta(days=int(_number(field, value)) - 1)
    else:
        day = _date(field, value) + datetime.timedelta(days=1 if op == "after" else 0)
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time()))


def _money(value: Decimal) -> str:
    return money.fmt(value, trim=True)


def describe(rules: dict, user_names: dict[int, str] | None = None) -> str:
    """The rules in words, e.g. "广东省 且 订单数 ≥ 3 笔"."""
    return _describe(rules, user_names or {}, top=True)


def _describe(node: dict, user_names: dict[int, str], top: bool = False) -> str:
    """In the reader's language (gettext; Chinese unless English is chosen)."""
    if "items" in node:
        joiner = _(" 或 ") if node.get("op", "and") == "or" else _(" 且 ")
        text = joiner.join(_describe(item, user_names) for item in node["items"])
        return text if top or len(node["items"]) == 1 else _("（%(rules)s）") % {"rules": text}
    name, op, values = node["field"], node.get("op", "in"), node["values"]
    field = FIELDS[name]
    if field.kind == "days":
        if op == "between":
            return _("最近一次消费在 %(a)s–%(b)s 天前") % {"a": _number(field, values[0]),
                                                        "b": _number(field, values[1])}
        value = {"n": _number(field, values[0])}
        # recency ≤ 90 reads as "最近 90 天内有消费"; ≥ 90 as "90 天以上未消费"
        if op in ("lte", "lt"):
            return (_("最近 %(n)s 天内有消费") if op == "lte" else _("最近 %(n)s 天内（不含）有消费")) % value
        if op in ("gte", "gt"):
            return (_("%(n)s 天以上未消费") if op == "gte" else _("超过 %(n)s 天未消费")) % value
        return _("最近一次消费在 %(n)s 天前") % value
    if field.kind == "date":
        if op == "within_days":
            return _("%(field)s在最近 %(n)s 天内") % {"field": field.label, "n": _number(field, values[0])}
        return _("%(field)s%(op)s %(day)s") % {"field": field.label, "op": DATE_OPS[op],
                                                "day": _date(field, values[0]).isoformat()}
    if field.kind in ("number", "money"):
        def shown(v):
            return _money(_number(field, v)) if field.kind == "money" else f"{_number(field, v)} {field.unit}".strip()
        if op == "between":
            return _("%(field)s介于 %(a)s 和 %(b)s 之间") % {"field": field.label, "a": shown(values[0]),
                                                            "b": shown(values[1])}
        return f"{field.label} {NUMBER_OPS[op]} {shown(values[0])}"
    if field.kind == "bool":
        return str(field.label) if values[0] else _("非%(field)s") % {"field": field.label}
    if field.kind == "id":
        shown = [user_names.get(int(v), f"#{v}") for v in values]
    elif name == "age_band":
        shown = [ages.label(str(v), _("未知")) for v in values]
    elif name in CLASS_NAMES or name == "trend":
        shown = [class_label(str(v)) for v in values]
    else:
        labels = CHOICE_LABELS.get(name, {})
        shown = [str(labels.get(str(v), str(v))) for v in values]
    if op == "not_in":
        return _("%(field)s不是%(values)s") % {"field": field.label, "values": _("、").join(shown)}
    if name in BARE:
        return _("或").join(shown)
    return _("%(field)s：%(values)s") % {"field": field.label, "values": _("、").join(shown)}
