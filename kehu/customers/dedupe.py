"""Finding customers who are likely the same person or company (疑似重复客户).

Contact fields are encrypted, so equality is found through their keyed hashes (`*_hash`), grouped in
SQL: fast, and no plaintext is needed. Same name in the same city is a weaker sign, listed as well.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Q
from django.utils.translation import gettext_noop

from .models import Customer

REASONS = {   # in Chinese, marked for translation: pages show each in the reader's language
    "mobile": gettext_noop("手机号相同"),
    "email": gettext_noop("邮箱相同"),
    "wechat": gettext_noop("微信号相同"),
    "name_city": gettext_noop("姓名和城市相同"),
}


@dataclass
class DuplicateGroup:
    """Customers that share something; `reasons` in Chinese, strongest first."""

    customers: list[Customer]
    reasons: list[str] = field(default_factory=list)

    @property
    def codes(self) -> list[str]:
        return [c.code for c in self.customers]

    @property
    def reason(self) -> str:
        return "、".join(self.reasons)

    def suggested_kept(self) -> Customer:
        """The record to keep: the one with most orders, then the earliest registered."""
        return min(self.customers, key=lambda c: (-getattr(c, "order_count", 0), c.registered_at, c.id))


def _shared_values(queryset, *fields: str, exclude_blank: tuple[str, ...] = ()) -> list[tuple]:
    """Values of `fields` that more than one customer in `queryset` has (one GROUP BY ... HAVING)."""
    qs = queryset
    for name in exclude_blank:
        qs = qs.exclude(**{name: ""})
    rows = qs.order_by().values(*fields).annotate(n=Count("id")).filter(n__gt=1).values_list(*fields)
    return list(rows)


def find_likely_duplicates(queryset=None, limit: int | None = None) -> list[DuplicateGroup]:
    """Groups of customers sharing a normalised mobile, e-mail or WeChat ID, or the same name and city.

    A pair found for several reasons is one group with every reason. Groups come strongest reason
    first (mobile, e-mail, WeChat, name + city), then by customer code.
    """
    base = Customer.objects.all() if queryset is None else queryset
    found: dict[str, list] = {}  # reason key → list of (filter Q)
    for key in ("mobile", "email", "wechat"):
        column = f"{key}_hash"
        found[key] = [Q(**{column: value}) for (value,) in _shared_values(base, column, exclude_blank=(column,))]
    found["name_city"] = [Q(name=name, city=city)
                          for name, city in _shared_values(base, "name", "city", exclude_blank=("name", "city"))]

    groups: dict[frozenset[int], DuplicateGroup] = {}
    members: dict[int, Customer] = {}
    for key, conditions in found.items():
        for start in range(0, len(conditions), 200):
            chunk = conditions[start:start + 200]
            where = Q()
            for condition in chunk:
                where |= condition
            rows = (base.filter(where).annotate(order_count=Count("orders"))
                    .only("id", "code", "name", "kind", "city", "province", "registered_at",
                          "mobile_hash", "email_hash", "wechat_hash", "owner")
                    .select_related("owner").order_by("code"))
            by_value: dict[object, list[Customer]] = {}
            for customer in rows:
                members.setdefault(customer.id, customer)
                value = (customer.name, customer.city) if key == "name_city" else getattr(customer, f"{key}_hash")
                by_value.setdefault(value, []).append(members[customer.id])
            for customers in by_value.values():
                if len(customers) < 2:
                    continue
                ids = frozenset(c.id for c in customers)
                group = groups.setdefault(ids, DuplicateGroup(customers=customers))
                if REASONS[key] not in group.reasons:
                    group.reasons.append(REASONS[key])
    ordered = sorted(groups.values(), key=lambda g: (list(REASONS.values()).index(g.reasons[0]), g.codes))
    return ordered[:limit] if limit else ordered


def duplicates_of(customer: Customer, queryset=None) -> list[tuple[Customer, list[str]]]:
    """Other customers that look like `customer`, each with the reasons why."""
    base = Customer.objects.all() if queryset is None else queryset
    checks = [("mobile", Q(mobile_hash=customer.mobile_hash) if customer.mobile_hash else None),
              ("email", Q(email_hash=customer.email_hash) if customer.email_hash else None),
              ("wechat", Q(wechat_hash=customer.wechat_hash) if customer.wechat_hash else None),
              ("name_city", Q(name=customer.name, city=customer.city) if customer.city else None)]
    result: dict[int, tuple[Customer, list[str]]] = {}
    for key, condition in checks:
        if condition is None:
            continue
        for other in base.filter(condition).exclude(pk=customer.pk).order_by("code")[:20]:
            result.setdefault(other.id, (other, []))[1].append(REASONS[key])
    return list(result.values())
