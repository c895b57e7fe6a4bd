"""One definition of customer filters for the list page, the API, exports and rule segments (`?rule=<id>`)."""

import re
from collections.abc import Callable
from dataclasses import dataclass, fields

from django.db.models import Q

from kehu.lib.crypto import blind_index
from kehu.lib.params import parse_id
from kehu.lib.phones import InvalidMobile, normalize_mobile

from .models import CompanySize, CustomerQuerySet, Grade, Kind

SORTS = {
    "-id": "最新录入",
    "id": "最早录入",
    "-registered_at": "注册时间（新→旧）",
    "registered_at": "注册时间（旧→新）",
    "name": "姓名",
    "code": "客户编号",
}
_PHONE_LIKE = re.compile(r"^[+\d][\d\s\-]{6,}$")
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
    rule: str = ""  # a saved rule segment's id; an unknown id matches no customer
    sort: str = "-id"

    @classmethod
    def from_params(cls, params) -> "CustomerFilter":
        """From request.GET or a dict; unknown keys are ignored, an unknown sort falls back to the default.

        An `owner` or `rule` that is no id raises BadParameter (a 400 on the page, 422 in the API)."""
        # NUL cannot be in a PostgreSQL string: a q=%00 would be a server error instead of no match.
        values = {f.name: str(params.get(f.name, "") or "").replace("\x00", "").strip()[:100] for f in fields(cls)}
        if values["sort"] not in SORTS:
            values["sort"] = "-id"
        if values["owner"] and values["owner"] != "none":
            parse_id("owner", values["owner"])
        if values["rule"]:
            parse_id("rule", values["rule"])
        return cls(**values)

    def active(self) -> dict[str, str]:
        """The filters that are set (without sort), for links and for describing the list."""
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "sort" and getattr(self, f.name)}

    def apply(self, qs: CustomerQuerySet) -> CustomerQuerySet:
        for name in ("province", "city", "industry", "grade", "kind", "company_size"):
            if value := getattr(self, name):
                qs = qs.filter(**{name: value})
        for name in SEGMENT_FILTERS:
            if value := getattr(self, name):
                qs = qs.filter(**{f"segment__{name}": value})
        if self.tag:
            qs = qs.filter(tags__name=self.tag)
        if self.owner == "none":
            qs = qs.filter(owner__isnull=True)
        elif self.owner:
            qs = qs.filter(owner_id=int(self.owner))
        if self.q:
            qs = qs.filter(self.search_condition(self.q))
        if self.rule:
            found = self._rule()
            # members as a subquery: a tag condition joins the tags and must not repeat a customer
            qs = qs.filter(pk__in=qs.model.objects.filter(found[1]).values("pk")) if found else qs.none()
        return qs

    def _rule(self) -> "tuple[str, Q] | None":
        """(name, condition) of the rule segment `rule`, None if unknown or invalid; looked up once."""
        if "_rule_found" not in self.__dict__:
            found = None
            if self.rule and _rule_lookups:
                found = _rule_lookups[0](int(self.rule))
            self.__dict__["_rule_found"] = found
        return self.__dict__["_rule_found"]

    @staticmethod
    def search_condition(q: str) -> Q:
        """Code, name, company, or an exact mobile, WeChat ID or e-mail (found by their keyed hash)."""
        q = q.strip()
        if _PHONE_LIKE.match(q):
            try:
                return Q(mobile_hash=blind_index(normalize_mobile(q)))
            except InvalidMobile:
                pass
        lowered = q.lower()
        return (
            Q(code__iexact=q) | Q(name__icontains=q) | Q(company__icontains=q)
            | Q(wechat_hash=blind_index(lowered)) | Q(email_hash=blind_index(lowered))
        )

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
