"""The risk list (流失风险名单): buying customers ordered by value at risk, with churn probability
(1 − P(alive)), expected purchases in 90 days, the 12-month value (CLV) and the suggested action.

One definition for the page, its CSV/xlsx export and the API: `RiskQuery.from_params(params, user)` reads
the filters (owner, RFM class, province — through the customer list's `CustomerFilter`) and the sort,
`rows()` gives the customers a user may see (`Customer.objects.visible_to`), and `row_values()` gives the
cells of one row, the same on screen and in the file. Pages are key-set pages on the stored figures of
`CustomerSegment`, so a deep page costs what the first one costs.

The suggested action comes from the marketing playbooks (营销建议). Marketing imports this app, not the
other way round: it registers a lookup here at start-up (`register_action_lookup`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from kehu.customers.filters import CustomerFilter
from kehu.customers.models import Customer
from kehu.lib import money
from kehu.lib.pagination import KeysetPage, keyset_page

from .models import CLASS_NAMES, CustomerSegment

PAGE_SIZE = 50
FILTERS = ("owner", "rfm_class", "province")
# sort key → (label, CustomerSegment field ordering). Churn probability is 1 − P(alive): most likely
# churned first means smallest P(alive) first.
SORTS = {
    "-value_at_risk": (_("流失风险价值（高→低）"), "-value_at_risk"),
    "value_at_risk": (_("流失风险价值（低→高）"), "value_at_risk"),
    "-churn": (_("流失概率（高→低）"), "p_alive"),
    "churn": (_("流失概率（低→高）"), "-p_alive"),
    "-expected": (_("预计90天消费天数（多→少）"), "-expected_purchases_90d"),
    "expected": (_("预计90天消费天数（少→多）"), "expected_purchases_90d"),
    "-clv": (_("未来12个月价值（高→低）"), "-clv"),
    "clv": (_("未来12个月价值（低→高）"), "clv"),
}
DEFAULT_SORT = "-value_at_risk"
COLUMNS = (
    ("code", _("客户编号")), ("name", _("姓名")), ("owner", _("负责人")), ("province", _("省份")),
    ("rfm_class", _("RFM分层")), ("churn", _("流失概率（%）")), ("expected", _("预计90天消费天数")),
    ("clv", _("未来12个月价值（元）")), ("value_at_risk", _("流失风险价值（元）")), ("action", _("建议行动")),
)


def columns() -> list[tuple[str, str]]:
    """COLUMNS with the amounts' unit in the shop's currency (系统设置 → 币种)."""
    return [(key, money.unit_label(label)) for key, label in COLUMNS]


# What a row needs (the customer table has encrypted contact columns that the list never shows).
ONLY = ("customer_id", "rfm_class", "frequency_tier", "value_tier", "lifecycle", "p_alive",
        "expected_purchases_90d", "clv", "value_at_risk", "customer__code", "customer__name",
        "customer__province", "customer__owner__username", "customer__owner__first_name",
        "customer__owner__last_name")
# The figures a column header can sort by.
SORTABLE = {"churn", "expected", "clv", "value_at_risk"}

# fn(segments) -> {customer id: suggested action}; registered by the marketing app (playbooks).
ActionLookup = Callable[[list[CustomerSegment]], dict[int, str]]
_action_lookups: list[ActionLookup] = []


def register_action_lookup(fn: ActionLookup) -> None:
    """Let the risk list show each customer's suggested action (called by MarketingConfig.ready())."""
    _action_lookups[:] = [fn]


def suggested_actions(segments: list[CustomerSegment]) -> dict[int, str]:
    return _action_lookups[0](segments) if _action_lookups and segments else {}


@dataclass
class RiskQuery:
    filters: CustomerFilter
    sort: str
    user: object

    @classmethod
    def from_params(cls, params, user) -> RiskQuery:
        """From request.GET or a dict; unknown or bad values fall back to no filter and the default sort."""
        sort = str(params.get("sort", "") or "")
        return cls(CustomerFilter.from_params({name: params.get(name, "") for name in FILTERS}),
                   sort if sort in SORTS else DEFAULT_SORT, user)

    def active(self) -> dict[str, str]:
        return {**self.filters.active(), **({"sort": self.sort} if self.sort != DEFAULT_SORT else {})}

    def rows(self) -> QuerySet:
        """The CustomerSegment rows of the customers `user` may see that have a value at risk, filtered."""
        customers = self.filters.apply(Customer.objects.visible_to(self.user), self.user)
        return CustomerSegment.objects.filter(value_at_risk__isnull=False, p_alive__isnull=False,
                                              customer__in=customers.values("pk")) \
            .select_related("customer", "customer__owner").only(*ONLY)

    def ordering(self) -> str:
        return SORTS[self.sort][1]

    def page(self, cursor: str = "", size: int = PAGE_SIZE) -> KeysetPage:
        page = keyset_page(self.rows(), self.ordering(), cursor, size)
        page.extra["actions"] = suggested_actions(page.items)
        return page

    def all_rows(self) -> list[CustomerSegment]:
        """Every matching row in sort order (the export)."""
        field = self.ordering()
        tie = "-customer_id" if field.startswith("-") else "customer_id"
        return list(self.rows().order_by(field, tie))


def _money(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


def row_values(segment: CustomerSegment, actions: dict[int, str]) -> dict:
    """One row's figures, as the page shows them and the export writes them (rounded the same)."""
    customer = segment.customer
    return {
        "code": customer.code,
        "name": customer.name,
        "owner": customer.owner.display_name if customer.owner_id else "",
        "province": customer.province,
        "rfm_class": segment.rfm_class,
        "churn": round((1 - segment.p_alive) * 100, 1),
        "expected": round(segment.expected_purchases_90d or 0, 2),
        "clv": _money(segment.clv),
        "value_at_risk": _money(segment.value_at_risk),
        "action": actions.get(segment.customer_id, ""),
    }


def choices(user) -> dict:
    """What the filter form offers a user: owners (for roles that see everyone), classes, provinces."""
    visible = Customer.objects.visible_to(user)
    provinces = visible.filter(segment__value_at_risk__isnull=False).exclude(province="") \
        .order_by("province").values_list("province", flat=True).distinct()
    owners = list(get_user_model().objects.filter(is_active=True).order_by("username")) \
        if user.sees_all_customers else []
    return {"owners": owners, "classes": CLASS_NAMES["rfm_class"], "provinces": list(provinces)}
