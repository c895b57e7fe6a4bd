"""The customer list's columns (客户列表的列): chosen per user with `?cols=code,name,total_spend`, shown the
same on the page, in the JSON API and in the list export.

A column is a profile field of the customer, or a stored figure of the segments app reached by name through
the customer's one-to-one rows (`metrics__monetary`, `segment__p_alive`: this app never imports segments).
Only the figures of the chosen columns are fetched (one annotation each, over at most two joins), and every
column a user can sort by has an index that keeps a key-set page fast at a million customers
(segments/0007_list_sort_indexes).
"""

import datetime
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache

from django.db.models import F, QuerySet, TextChoices
from django.utils import timezone
from django.utils.translation import get_language, gettext_noop
from django.utils.translation import gettext as _

from kehu.lib import ages, money
from kehu.lib.labels import class_label

from .filters import SORT_FIELDS
from .models import Gender, Kind


@dataclass(frozen=True)
class ListColumn:
    key: str
    label: str  # Chinese, translated when shown
    group: str  # 资料, 消费, 分层, 预测
    path: str = ""  # a figure over a relation, fetched as an annotation `col_<key>`
    numeric: bool = False

    @property
    def sortable(self) -> bool:
        return self.key in SORT_FIELDS

    def title(self) -> str:
        """The header in the user's language, amounts with the unit of the shop's currency (消费金额（港元）)."""
        return money.unit_label(_(self.label))


COLUMNS: dict[str, ListColumn] = {c.key: c for c in (
    ListColumn("code", gettext_noop("客户编号"), gettext_noop("资料")),
    ListColumn("name", gettext_noop("姓名"), gettext_noop("资料")),
    ListColumn("mobile", gettext_noop("手机"), gettext_noop("资料")),
    ListColumn("company", gettext_noop("类型/公司"), gettext_noop("资料")),
    ListColumn("kind", gettext_noop("类型"), gettext_noop("资料")),
    ListColumn("gender", gettext_noop("性别"), gettext_noop("资料")),
    ListColumn("age_band", gettext_noop("年龄段"), gettext_noop("资料")),
    ListColumn("place", gettext_noop("地区"), gettext_noop("资料")),
    ListColumn("industry", gettext_noop("行业"), gettext_noop("资料")),
    ListColumn("source", gettext_noop("来源渠道"), gettext_noop("资料")),
    ListColumn("grade", gettext_noop("评级"), gettext_noop("资料")),
    ListColumn("owner", gettext_noop("负责人"), gettext_noop("资料")),
    ListColumn("tags", gettext_noop("标签"), gettext_noop("资料")),
    ListColumn("registered_at", gettext_noop("注册时间"), gettext_noop("资料")),
    ListColumn("orders", gettext_noop("订单数"), gettext_noop("消费"), "metrics__frequency", True),
    ListColumn("total_spend", gettext_noop("消费金额（元）"), gettext_noop("消费"), "metrics__monetary", True),
    ListColumn("average", gettext_noop("客单价（元）"), gettext_noop("消费"), "segment__avg_order_value", True),
    ListColumn("last_purchase", gettext_noop("最近消费"), gettext_noop("消费"), "metrics__last_order_at"),
    ListColumn("days_since", gettext_noop("距最近消费（天）"), gettext_noop("消费"), "metrics__last_order_at", True),
    ListColumn("rfm_class", gettext_noop("RFM分层"), gettext_noop("分层"), "segment__rfm_class"),
    ListColumn("lifecycle", gettext_noop("生命周期"), gettext_noop("分层"), "segment__lifecycle"),
    ListColumn("churn_probability", gettext_noop("流失概率（%）"), gettext_noop("预测"), "segment__p_alive", True),
    ListColumn("clv", gettext_noop("未来12个月价值（元）"), gettext_noop("预测"), "segment__clv", True),
    ListColumn("value_at_risk", gettext_noop("流失风险价值（元）"), gettext_noop("预测"), "segment__value_at_risk",
               True),
)}
DEFAULT_COLUMNS = ("code", "name", "mobile", "company", "place", "grade", "owner", "tags", "orders", "total_spend",
                   "last_purchase", "rfm_class", "registered_at")
# The sort key a header sorts by first: figures big first, names and codes A→Z.
FIRST_DIRECTION = {"name": "", "code": "", "days_since": "", "rfm_class": "", "lifecycle": "", "grade": ""}


def parse_columns(params) -> list[str]:
    """The chosen columns from `cols` (repeated, or comma-separated), known ones in the order given, without
    repeats; the defaults when none is chosen."""
    if hasattr(params, "getlist"):
        raw = params.getlist("cols")
    else:
        value = params.get("cols", "")
        raw = value if isinstance(value, list | tuple) else [value]
    keys: list[str] = []
    for item in raw:
        for key in str(item or "").split(","):
            key = key.strip()
            if key in COLUMNS and key not in keys:
                keys.append(key)
    return keys or list(DEFAULT_COLUMNS)


def with_columns(qs: QuerySet, keys: list[str]) -> QuerySet:
    """`qs` with the figures the columns need (one annotation each) and the related rows they show."""
    figures = {f"col_{key}": F(COLUMNS[key].path) for key in keys if COLUMNS[key].path}
    if figures:
        qs = qs.annotate(**figures)
    if "owner" in keys:
        qs = qs.select_related("owner")
    if "tags" in keys:
        qs = qs.prefetch_related("tags")
    return qs


def _days_since(last: datetime.datetime | None) -> int | None:
    return (timezone.localdate() - timezone.localdate(last)).days if last else None


def _churn(p_alive: float | None) -> float | None:
    return None if p_alive is None else round((1 - p_alive) * 100, 1)


def _money(value: Decimal | None) -> Decimal | None:
    return None if value is None else value.quantize(Decimal("0.01"))


@lru_cache(maxsize=256)
def _choice_label_in(choices: type[TextChoices], value: str, language: str) -> str:
    return str(choices(value).label) if value in choices.values else value


def _choice_label(choices: type[TextChoices], value: str) -> str:
    """What get_FOO_display() gives, without rebuilding the field's choices for every cell of a page."""
    return _choice_label_in(choices, value, get_language())


def cell(customer, key: str, contact: dict):
    """The value of one column for one customer, as data (numbers, dates, text; None for no value). `contact` is
    `customer.contact_for(user)`, so the mobile is masked exactly as on the customer page."""
    figure = getattr(customer, f"col_{key}", None)
    match key:
        case "mobile":
            return contact["mobile"]
        case "company":
            return customer.company or _choice_label(Kind, customer.kind)
        case "kind":
            return _choice_label(Kind, customer.kind)
        case "gender":
            return _choice_label(Gender, customer.gender)
        case "age_band":
            return ages.label(customer.age_band)
        case "place":
            return customer.place
        case "owner":
            return customer.owner.display_name if customer.owner_id else ""
        case "tags":
            return [t.name for t in customer.tags.all()]
        case "registered_at":
            return timezone.localtime(customer.registered_at)
        case "total_spend" | "average" | "clv" | "value_at_risk":
            return _money(figure)
        case "last_purchase":
            return timezone.localtime(figure) if figure else None
        case "days_since":
            return _days_since(figure)
        case "churn_probability":
            return _churn(figure)
        case "orders":
            return figure
        case "rfm_class" | "lifecycle":
            return class_label(figure) if figure else ""
    return getattr(customer, key)


def cell_text(value) -> str:
    """A cell as the page and a CSV show it."""
    if value is None or value == "":
        return "—"
    if isinstance(value, list):
        return "、".join(value)
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, Decimal):
        return f"{value:,.2f}"
    return str(value)


def header(key: str) -> str:
    return COLUMNS[key].title()
