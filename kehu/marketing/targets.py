"""Target lists (目标名单): who is in a list, on which channel they may be reached, and the per-channel files.

Consent and masking, decided here once for the pages and the exports:

* A customer is *reachable* on the list's channel when it has a granted Consent for that channel and the
  contact value for it (mobile for 短信/电话, e-mail, WeChat ID). Exports contain reachable customers only.
* Exports are refused (PermissionDenied) to roles that may not see contact details: a masked mobile
  list cannot be used for sending, so such a file would only leak partial data. Rows still go through
  `Customer.contact_for(user)`, so the file never holds more than the user may see on screen.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator
from dataclasses import replace
from typing import IO

from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import QueryDict
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from kehu.customers.filters import CustomerFilter, contact_value, masked_search
from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Consent, MarketingChannel
from kehu.exchange import exports
from kehu.exchange.exporters import Column, write_csv, write_table
from kehu.lib.labels import class_label
from kehu.segments.models import CLASS_LABELS, CLASS_NAMES

from .models import CampaignContact, TargetList

# Which contact field reaches a customer on each channel.
CONTACT_FIELD = {MarketingChannel.SMS: "mobile", MarketingChannel.EMAIL: "email", MarketingChannel.WECHAT: "wechat",
                 MarketingChannel.PHONE: "mobile"}
_CODE, _NAME = Column(gettext_lazy("客户编号"), 12), Column(gettext_lazy("姓名"), 12)
_OWNER = Column(gettext_lazy("负责人"), 10)
# Headers and sheet names in the exporting user's language (these lists go out to be worked, not imported again).
EXPORT_COLUMNS = {
    MarketingChannel.SMS: [_CODE, _NAME, Column(gettext_lazy("手机"), 15)],
    MarketingChannel.EMAIL: [_CODE, _NAME, Column(gettext_lazy("电子邮箱"), 28)],
    MarketingChannel.WECHAT: [_CODE, _NAME, Column(gettext_lazy("微信号"), 16), _OWNER],
    MarketingChannel.PHONE: [_CODE, _NAME, Column(gettext_lazy("手机"), 15), _OWNER,
                             Column(gettext_lazy("RFM分层"), 13), Column(gettext_lazy("生命周期"), 10),
                             Column(gettext_lazy("通话结果"), 24)],
}
EXPORT_NAMES = {MarketingChannel.SMS: gettext_lazy("短信名单"), MarketingChannel.EMAIL: gettext_lazy("邮件名单"),
                MarketingChannel.WECHAT: gettext_lazy("微信名单"), MarketingChannel.PHONE: gettext_lazy("电话回访表")}


def audience_choices() -> list[tuple[str, list[tuple[str, str]]]]:
    """Grouped choices "column:class" for the audience select."""
    return [(CLASS_LABELS[col], [(f"{col}:{name}", class_label(name)) for name in names])
            for col, names in CLASS_NAMES.items()]


def describe(tl: TargetList) -> str:
    parts = []
    if tl.segment_class:
        parts.append(_("%(column)s：%(class)s") % {"column": CLASS_LABELS.get(tl.segment_column, tl.segment_column),
                                                  "class": class_label(tl.segment_class)})
    if tl.filter_query:
        flt = CustomerFilter.from_params(QueryDict(tl.filter_query))
        # a contact value searched for is shown masked: whoever opens the list may not see contacts
        parts.append(replace(flt, q=masked_search(flt.q)).describe())
    if tl.exclude_days:
        parts.append(_("排除最近 %(n)s 天联系过的客户") % {"n": tl.exclude_days})
    return _("；").join(parts) or _("全部客户")


def forget_erased(sender, customer, values: list[tuple[str, str]], **kwargs) -> int:
    """PIPL erase: a target list whose search (q) was the erased person's mobile, e-mail or WeChat ID loses
    that search; the list stays, the person's value does not. Returns how many lists changed."""
    changed = 0
    for tl in TargetList.objects.exclude(filter_query="").filter(filter_query__contains="q="):
        params = QueryDict(tl.filter_query, mutable=True)
        if contact_value(params.get("q", "")) in values:
            del params["q"]
            tl.filter_query = params.urlencode()
            tl.save(update_fields=["filter_query"])
            changed += 1
    return changed


def members(tl: TargetList, user, now: datetime.datetime | None = None) -> QuerySet:
    """The customers of a list that `user` may see, annotated with `consented` (to the list's channel)."""
    qs = Customer.objects.visible_to(user)
    if tl.segment_column in CLASS_NAMES and tl.segment_class:
        qs = qs.filter(**{f"segment__{tl.segment_column}": tl.segment_class})
    if tl.filter_query:
        qs = CustomerFilter.from_params(QueryDict(tl.filter_query)).apply(qs, user)
    if tl.exclude_days:
        since = (now or timezone.now()) - datetime.timedelta(days=tl.exclude_days)
        talked = Communication.objects.filter(customer=OuterRef("pk"), occurred_at__gte=since)
        contacted = CampaignContact.objects.filter(customer=OuterRef("pk"), contacted_at__gte=since)
        qs = qs.exclude(Exists(talked)).exclude(Exists(contacted))
    consent = Consent.objects.filter(customer=OuterRef("pk"), channel=tl.channel, granted=True)
    return qs.annotate(consented=Exists(consent)).distinct()


def reachable(tl: TargetList, user) -> QuerySet:
    """Members who consented to the list's channel and have the contact value for it."""
    field = CONTACT_FIELD[tl.channel]
    return members(tl, user).filter(consented=True).exclude(Q(**{field: ""}) | Q(**{f"{field}__isnull": True}))


def _rows(tl: TargetList, user) -> Iterator[list]:
    qs = reachable(tl, user).select_related("owner", "segment").order_by("id")
    for c in qs.iterator(chunk_size=2000):
        contact = c.contact_for(user)
        owner = c.owner.display_name if c.owner else ""
        segment = getattr(c, "segment", None)
        if tl.channel == MarketingChannel.SMS:
            yield [c.code, c.name, contact["mobile"]]
        elif tl.channel == MarketingChannel.EMAIL:
            yield [c.code, c.name, contact["email"]]
        elif tl.channel == MarketingChannel.WECHAT:
            yield [c.code, c.name, contact["wechat"], owner]
        else:
            yield [c.code, c.name, contact["mobile"], owner, class_label(segment.rfm_class) if segment else "",
                   class_label(segment.lifecycle) if segment else "", ""]


def check_export(user) -> None:
    if not user.sees_contact_details:
        raise PermissionDenied(_("您的角色不能查看完整联系方式，不能导出营销名单。"))


def export_xlsx(tl: TargetList, user, target: str | IO[bytes]) -> int:
    from openpyxl import Workbook

    check_export(user)
    wb = Workbook(write_only=True)
    count = write_table(wb.create_sheet(str(EXPORT_NAMES[tl.channel])), EXPORT_COLUMNS[tl.channel], _rows(tl, user))
    wb.save(target)
    return count


def export_csv(tl: TargetList, user, target: IO[str]) -> int:
    check_export(user)
    return write_csv(target, EXPORT_COLUMNS[tl.channel], _rows(tl, user))


def _export_query(params, user) -> TargetList:
    """The target list of an export, checked (again, when the worker runs) for `user`: theirs to run, contact
    details seen."""
    from .campaigns import require_run  # campaigns builds on this module

    tl = TargetList.objects.get(pk=params["list"])
    require_run(user, tl)
    check_export(user)
    return tl


def _write_export(tl: TargetList, params, user, fmt: str, target: IO[bytes]) -> int:
    if fmt == "csv":
        return exports.as_text(target, lambda f: export_csv(tl, user, f))
    return export_xlsx(tl, user, target)


EXPORT_KIND = exports.Kind(query=_export_query, count=lambda tl, user: reachable(tl, user).count(),
                           title=lambda tl, params: f"{EXPORT_NAMES[tl.channel]}-{tl.name}", write=_write_export)
