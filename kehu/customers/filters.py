"""One definition of customer filters for the list page, the API, exports, rule segments (`?rule=<id>`) and
target lists.

Searching by a contact value (the search box `q` holding a mobile, an e-mail or a WeChat ID) follows one rule
everywhere, because every path goes through `CustomerFilter.apply(qs, user)`:

* Roles that see contact details in full (KEHU_CONTACT_ROLES) find a customer by the exact value.
* Other roles never match a contact value: `q=13887408022` searches only code, name and company, so a search
  cannot tell a viewer or a sales rep whether a number they see masked (138****8022) is that customer's.
  They look up one caller at a time on the 来电查询 page (customers.probes.caller_lookup): rate-limited.
* Every contact-value search, by any role, is written to the audit log with the value as a keyed hash
  (`audit_hash`), never in plaintext; filter strings kept in the log show it masked (`audit_query`).
"""

import re
from collections.abc import Callable
from dataclasses import dataclass, fields
from urllib.parse import urlencode

from django.db.models import Q
from django.utils.translation import gettext as _

from kehu.accounts import audit
from kehu.accounts.models import User
from kehu.lib import ages
from kehu.lib.crypto import audit_hash, blind_index
from kehu.lib.masking import mask_email, mask_mobile, mask_text
from kehu.lib.params import BadParameter, parse_id
from kehu.lib.phones import InvalidMobile, normalize_mobile

from .models import CompanySize, CustomerQuerySet, Gender, Grade, Kind, mobile_last4_index

SORTS = {
    "-id": "最新录入",
    "id": "最早录入",
    "-registered_at": "注册时间（新→旧）",
    "registered_at": "注册时间（旧→新）",
    "name": "姓名",
    "code": "客户编号",
}
# Sorts by a column of the list (customers.columns): key → (what the database orders by, reversed?). The stored
# metrics live in the segments app (`metrics__…`, `segment__…`, reached by name, never imported); customers
# without them come last either way. "Days since" and churn probability (1 − P(alive)) run against their column.
SORT_FIELDS = {
    "id": ("id", False),
    "registered_at": ("registered_at", False),
    "name": ("name", False),
    "code": ("code", False),
    "grade": ("grade", False),
    "orders": ("metrics__frequency", False),
    "total_spend": ("metrics__monetary", False),
    "average": ("segment__avg_order_value", False),
    "last_purchase": ("metrics__last_order_at", False),
    "days_since": ("metrics__last_order_at", True),
    "rfm_class": ("segment__rfm_class", False),
    "lifecycle": ("segment__lifecycle", False),
    "churn_probability": ("segment__p_alive", True),
    "clv": ("segment__clv", False),
    "value_at_risk": ("segment__value_at_risk", False),
}


def valid_sort(sort: str) -> bool:
    return sort.removeprefix("-") in SORT_FIELDS


def sort_ordering(sort: str) -> str:
    """The keyset ordering of a list sort: '-total_spend' → '-metrics__monetary', '-churn_probability' →
    'segment__p_alive' (most likely lost first)."""
    descending = sort.startswith("-")
    path, reversed_ = SORT_FIELDS[sort.removeprefix("-")]
    return ("-" if descending != reversed_ else "") + path
# Four digits: the end of a mobile (138****8022 → "8022"), found through Customer.mobile_last4_hash by the roles
# that search by contact, audited like any contact search; for other roles only codes, names and companies.
_LAST4 = re.compile(r"^\d{4}$")
_PHONE_LIKE = re.compile(r"^[+\d][\d\s\-]{6,}$")
# What a WeChat ID can look like (letters, digits, _ and -; old IDs may be all digits): only such text is
# compared with the WeChat hashes, so a search for a Chinese name is not a contact search.
_WECHAT_LIKE = re.compile(r"^[A-Za-z0-9_-]{5,40}$")
# Class columns of the customer's latest segmentation (segments.CustomerSegment, reached as `segment__…`).
SEGMENT_FILTERS = ("rfm_class", "rf_segment", "abc_class", "lifecycle", "trend")

# Saved rule segments (`?rule=<id>`) live in the segments app, which imports this one, not the other way:
# segments registers a lookup at start-up, fn(pk) -> (name, Q over Customer) or None for an unknown id.
RuleLookup = Callable[[int], "tuple[str, Q] | None"]
_rule_lookups: list[RuleLookup] = []


def register_rule_lookup(fn: RuleLookup) -> None:
    """Let `?rule=<id>` find saved rule segments (called by SegmentsConfig.ready())."""
    _rule_lookups[:] = [fn]


@dataclass
class CustomerFilter:
    q: str = ""
    province: str = ""
    city: str = ""
    industry: str = ""
    company_size: str = ""
    tag: str = ""
    grade: str = ""
    owner: str = ""  # a user id, or "none" for customers without owner
    kind: str = ""
    rfm_class: str = ""
    rf_segment: str = ""
    abc_class: str = ""
    lifecycle: str = ""
    trend: str = ""
    gender: str = ""    # male, female, or "unknown"
    age_band: str = ""  # a band key (lib.ages: "25-34"), or "unknown"; only for roles that see birthdays
    rule: str = ""  # a saved rule segment's id; an unknown id matches no customer
    sort: str = "-id"

    @classmethod
    def from_params(cls, params) -> "CustomerFilter":
        """From request.GET or a dict; unknown keys are ignored, an unknown sort falls back to the default.

        An `owner` or `rule` that is no id raises BadParameter (a 400 on the page, 422 in the API)."""
        # NUL cannot be in a PostgreSQL string: a q=%00 would be a server error instead of no match.
        values = {f.name: str(params.get(f.name, "") or "").replace("\x00", "").strip()[:100] for f in fields(cls)}
        if not valid_sort(values["sort"]):
            values["sort"] = "-id"
        if values["owner"] and values["owner"] != "none":
            parse_id("owner", values["owner"])
        if values["rule"]:
            parse_id("rule", values["rule"])
        return cls(**values)

    def active(self) -> dict[str, str]:
        """The filters that are set (without sort), for links and for describing the list."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sort" and getattr(self, f.name)}

    def apply(self, qs: CustomerQuerySet, user) -> CustomerQuerySet:
        """The customers of `qs` matching the filters; a contact-value search matches contacts only for a
        role that sees them, and is audited (hashed) for every role."""
        for name in ("province", "city", "industry", "grade", "kind", "company_size"):
            if value := getattr(self, name):
                qs = qs.filter(**{name: value})
        for name in SEGMENT_FILTERS:
            if value := getattr(self, name):
                qs = qs.filter(**{f"segment__{name}": value})
        if self.gender:
            qs = qs.filter(gender="" if self.gender == "unknown" else self.gender)
        if self.age_band:
            self._require_birthdays(user, "age_band")
            qs = qs.filter(age_band="" if self.age_band == "unknown" else self.age_band)
        if self.tag:
            qs = qs.filter(tags__name=self.tag)
        if self.owner == "none":
            qs = qs.filter(owner__isnull=True)
        elif self.owner:
            qs = qs.filter(owner_id=int(self.owner))
        if self.q:
            contacts = bool(getattr(user, "sees_contact_details", False))
            if contact_value(self.q) or _LAST4.match(self.q):
                record_contact_search(user, self.q)
            qs = qs.filter(self.search_condition(self.q, contacts=contacts))
        if self.rule:
            found = self._rule()
            if found and _mentions(found[1], "age_band"):
                self._require_birthdays(user, "rule")
            # members as a subquery: a tag condition joins the tags and must not repeat a customer
            qs = qs.filter(pk__in=qs.model.objects.filter(found[1]).values("pk")) if found else qs.none()
        return qs

    @staticmethod
    def _require_birthdays(user, name: str) -> None:
        """Listing customers by age band tells their age, which a masked role sees only as ****-MM-DD: only roles
        that see birthdays in full (KEHU_CONTACT_ROLES) may; others see the bands in aggregate (年龄与性别)."""
        if not getattr(user, "sees_contact_details", False):
            raise BadParameter(name, _("按年龄段筛选客户需要查看完整生日的权限；各年龄段的汇总见“年龄与性别”分析"))

    def _rule(self) -> "tuple[str, Q] | None":
        """(name, condition) of the rule segment `rule`, None if unknown or invalid; looked up once."""
        if "_rule_found" not in self.__dict__:
            found = None
            if self.rule and _rule_lookups:
                found = _rule_lookups[0](int(self.rule))
            self.__dict__["_rule_found"] = found
        return self.__dict__["_rule_found"]

    @staticmethod
    def search_condition(q: str, *, contacts: bool) -> Q:
        """Code, name, company; with `contacts`, also an exact mobile, WeChat ID or e-mail, or a mobile's last 4
        digits (by keyed hash)."""
        q = q.strip()
        plain = Q(code__iexact=q) | Q(name__icontains=q) | Q(company__icontains=q)
        if contacts and _LAST4.match(q):
            return plain | Q(mobile_last4_hash=mobile_last4_index(q))
        found = contact_value(q)
        if not contacts or found is None:
            return plain
        field, value = found
        if field == "mobile":
            return Q(mobile_hash=blind_index(value))
        return plain | Q(wechat_hash=blind_index(value)) | Q(email_hash=blind_index(value))

    def describe(self) -> str:
        """The filters in words, e.g. '广东省 · 深圳市 · 标签“VIP” · 搜索“张”'."""
        parts = [p for p in (self.province, self.city) if p]
        if self.industry:
            parts.append(f"行业：{self.industry}")
        if self.company_size in CompanySize.values:
            parts.append(f"规模：{CompanySize(self.company_size).label}")
        if self.grade in Grade.values:
            parts.append(f"评级 {self.grade}")
        if self.kind and self.kind in Kind.values:
            parts.append(Kind(self.kind).label)
        parts += [v for v in (self.rfm_class, self.rf_segment, self.lifecycle) if v]
        if self.abc_class:
            parts.append(f"{self.abc_class} 类客户")
        if self.trend:
            parts.append(f"消费{self.trend}")
        if self.gender in ("male", "female", "unknown"):
            parts.append(f"性别：{Gender(self.gender if self.gender != 'unknown' else '').label}")
        if self.age_band:
            parts.append(f"年龄段：{ages.label(self.age_band if self.age_band != 'unknown' else '')}")
        if self.tag:
            parts.append(f"标签“{self.tag}”")
        if self.owner == "none":
            parts.append("无负责人")
        elif self.owner:
            parts.append("指定负责人")
        if self.q:
            parts.append(f"搜索“{self.q}”")
        if self.rule:
            found = self._rule()
            parts.append(f"规则分群：{found[0]}" if found else "规则分群：不存在或已删除")
        return " · ".join(parts) or "全部客户"


def _mentions(condition: Q, field: str) -> bool:
    """Whether a Q (a rule segment's condition) looks at `field`."""
    return any(_mentions(child, field) if isinstance(child, Q) else child[0].split("__")[0] == field
               for child in condition.children)


# ── contact-value searches: what they are, their audit entry, and how the log keeps them ──────────

def contact_value(q: str) -> tuple[str, str] | None:
    """("mobile", "+86…"), ("email", …) or ("wechat", …) when `q` is a contact value, normalised; else None."""
    q = q.strip()
    if _PHONE_LIKE.match(q):
        try:
            return "mobile", normalize_mobile(q)
        except InvalidMobile:
            pass
    if "@" in q:
        return "email", q.lower()
    if _WECHAT_LIKE.match(q):
        return "wechat", q.lower()
    return None


def masked_search(q: str) -> str:
    """A search as the audit log may keep it: a contact value masked (138****8022), other text as typed."""
    found = contact_value(q)
    if found is None:
        return q
    field, value = found
    return {"mobile": mask_mobile, "email": mask_email}.get(field, mask_text)(value)


def record_contact_search(user, q: str) -> None:
    field, value = contact_value(q) or ("mobile_last4", q.strip())
    masked = not getattr(user, "sees_contact_details", False)
    audit.record(user if isinstance(user, User) else None, audit.AuditAction.SEARCH, details={
        "field": field, "value_hash": audit_hash(value), "masked_role": masked})


def audit_query(params) -> str:
    """A query string (request.GET or a dict) for the audit log: the search box masked, the rest unchanged."""
    items = params.lists() if hasattr(params, "lists") else ((k, [v]) for k, v in dict(params).items())
    pairs = [(key, masked_search(value) if key == "q" else value) for key, values in items for value in values]
    return urlencode(pairs)


def search_hash(params) -> str:
    """The keyed hash of a contact-value search in `params` ('' if none), kept so a PIPL erase finds it."""
    found = contact_value(str(params.get("q", "") or ""))
    return audit_hash(found[1]) if found else ""
