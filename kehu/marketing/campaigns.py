"""Campaigns (营销活动): who is contacted, e-mail through SMTP with merge fields, and what it brought in.

* `prepare()` takes the target list's members once; a random hold-out group (对照组) of
  `holdout_percent` % is drawn with `random.Random(campaign.seed)`, so the same seed gives the same group.
* E-mail goes only to customers with a granted e-mail consent and an address; others are marked 未授权.
  WeChat and phone contacts are marked by hand (also only with consent for that channel).
* SMS goes through the shop's SMS provider: `export_sms_csv` writes the consenting pending contacts in the
  shape of a bulk-send upload (阿里云短信 群发助手 and alike: the mobile first, then one column per template
  variable, here the merge fields), and `mark_sms_sent` marks exactly those contacts 已发送 once the shop sent.
* Attribution (归因): a completed order is the campaign's when it was placed after the customer was
  contacted and within `attribution_days` days of it; for the hold-out group the window starts when the
  campaign started (its first contact). Refunded orders never count. Conversion rate = customers with an
  attributed order / customers in the group; revenue = the sum of attributed orders.
"""

from __future__ import annotations

import datetime
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from kehu.customers.models import Customer
from kehu.engagement.models import Consent, MarketingChannel
from kehu.exchange.exporters import Column, write_csv
from kehu.lib.phones import national_digits
from kehu.sales.models import Order
from kehu.segments.models import CustomerSegment

from . import targets
from .models import Campaign, CampaignContact, ContactStatus, TargetList
from .recommend import recommend, suggestion_text

MERGE_FIELDS = ("{姓名}", "{推荐商品}", "{优惠}")
# The same fields under their English names, for messages written in English mode.
ENGLISH_MERGE_FIELDS = {"{name}": "{姓名}", "{product}": "{推荐商品}", "{offer}": "{优惠}"}
CONTACTED = (ContactStatus.SENT, ContactStatus.CONTACTED)


def merge(template: str, name: str, suggestions: str, offer: str) -> str:
    """Fill the merge fields ({姓名} or {name}, {推荐商品} or {product}, {优惠} or {offer}); plain replacement,
    so other braces in a message stay as they are."""
    for english, chinese in ENGLISH_MERGE_FIELDS.items():
        template = template.replace(english, chinese)
    return template.replace("{姓名}", name).replace("{推荐商品}", suggestions).replace("{优惠}", offer)


@transaction.atomic
def prepare(campaign: Campaign, user) -> int:
    """Take the audience once (as `user` may see it) and draw the hold-out group; the number of contacts."""
    if campaign.contacts.exists():
        return campaign.contacts.count()
    ids = sorted(targets.members(campaign.target_list, user).values_list("id", flat=True))
    size = round(len(ids) * campaign.holdout_percent / 100)
    holdout = set(random.Random(campaign.seed).sample(ids, size)) if size else set()
    CampaignContact.objects.bulk_create([
        CampaignContact(campaign=campaign, customer_id=cid,
                        status=ContactStatus.HOLDOUT if cid in holdout else ContactStatus.PENDING)
        for cid in ids])
    return len(ids)


def consenting_ids(campaign: Campaign, customer_ids) -> set[int]:
    return set(Consent.objects.filter(customer_id__in=customer_ids, channel=campaign.channel, granted=True)
               .values_list("customer_id", flat=True))


def _started(campaign: Campaign, when: datetime.datetime) -> None:
    if campaign.started_at is None:
        campaign.started_at = when
        campaign.save(update_fields=["started_at"])


def may_run(user, item: Campaign | TargetList) -> bool:
    """Sending, preparing and exporting a campaign or a target list: a manager or admin, or who created it."""
    return user.can_edit_customers and (user.can_manage or (item.created_by_id is not None
                                                             and item.created_by_id == user.pk))


def require_run(user, item: Campaign | TargetList) -> None:
    if not may_run(user, item):
        raise PermissionDenied(_("只有经理、管理员或创建者可以执行此操作。"))


class MailServerUnavailable(Exception):
    """The SMTP server could not be reached; nothing was sent."""

    def __str__(self) -> str:
        return _("无法连接邮件服务器 %(host)s:%(port)s，未发送任何邮件。请检查 KEHU_SMTP_HOST 等设置。") % {
            "host": settings.EMAIL_HOST, "port": settings.EMAIL_PORT}


def send_email(campaign: Campaign, user, progress: Callable[[dict[str, int]], None] | None = None) -> dict[str, int]:
    """Send the message to every pending contact `user` may see who consented to e-mail;
    {sent, no_consent, failed}, also handed to `progress` after each contact. Raises MailServerUnavailable if the
    SMTP server cannot be reached.

    A contact is marked 发送中 before its mail leaves and 已发送 after: a send interrupted in between (the worker
    killed) leaves it 发送中, and it is not tried again (sends.py marks it failed), so nobody gets the mail twice;
    the contacts still pending are those a next send reaches."""
    pending = list(campaign.contacts.filter(status=ContactStatus.PENDING,
                                            customer__in=Customer.objects.visible_to(user)).select_related("customer"))
    consenting = consenting_ids(campaign, [c.customer_id for c in pending])
    suggestions = recommend([c.customer_id for c in pending if c.customer_id in consenting]) \
        if "{推荐商品}" in campaign.message + campaign.subject else {}
    counts = {"sent": 0, "no_consent": 0, "failed": 0}
    connection = get_connection()
    try:
        connection.open()
    except OSError as exc:  # refused, unknown host, timeout; smtplib's errors are OSErrors too
        raise MailServerUnavailable from exc
    with connection:
        for contact in pending:
            counts[_send_one(campaign, contact, user, connection, consenting, suggestions)] += 1
            if progress is not None:
                progress(counts)
    return counts


def _send_one(campaign: Campaign, contact: CampaignContact, user, connection, consenting: set[int],
              suggestions: dict) -> str:
    """Mail one contact; which of the counts it adds to."""
    customer = contact.customer
    if contact.customer_id not in consenting or not customer.email:
        contact.status = ContactStatus.NO_CONSENT
        contact.save(update_fields=["status"])
        return "no_consent"
    contact.status = ContactStatus.SENDING
    contact.save(update_fields=["status"])
    text = suggestion_text(suggestions.get(customer.pk, []))
    subject = merge(campaign.subject or campaign.name, customer.name, text, campaign.offer)
    message = EmailMessage(subject=subject, body=merge(campaign.message, customer.name, text, campaign.offer),
                           to=[customer.email], connection=connection)
    try:
        message.send()
    except Exception:  # one refused address must not stop the rest (SMTPRecipientsRefused, OSError…)
        contact.status = ContactStatus.FAILED
        outcome = "failed"
    else:
        now = timezone.now()
        contact.status, contact.contacted_at, contact.by = ContactStatus.SENT, now, user
        _started(campaign, now)
        outcome = "sent"
    contact.save(update_fields=["status", "contacted_at", "by"])
    return outcome


SMS_COLUMNS = [Column("手机号码", 15), Column("姓名", 12), Column("推荐商品", 30), Column("优惠", 20)]


def _sms_ready(campaign: Campaign, user) -> list[CampaignContact]:
    """Pending contacts `user` may see who consented to SMS and have a mobile."""
    pending = list(campaign.contacts.filter(status=ContactStatus.PENDING,
                                            customer__in=Customer.objects.visible_to(user))
                   .select_related("customer").order_by("customer_id"))
    consenting = consenting_ids(campaign, [c.customer_id for c in pending])
    return [c for c in pending if c.customer_id in consenting and c.customer.mobile]


def export_sms_csv(campaign: Campaign, user, target) -> int:
    """The SMS provider's upload file of the contacts still to text; the number of rows."""
    require_run(user, campaign)
    targets.check_export(user)
    ready = _sms_ready(campaign, user)
    suggestions = recommend([c.customer_id for c in ready]) if "{推荐商品}" in campaign.message else {}
    rows = ([national_digits(c.customer.mobile), c.customer.name,
             suggestion_text(suggestions.get(c.customer_id, [])), campaign.offer] for c in ready)
    return write_csv(target, SMS_COLUMNS, rows)


@transaction.atomic
def mark_sms_sent(campaign: Campaign, user) -> int:
    """After the shop sent the exported file: those contacts are 已发送 now; how many."""
    require_run(user, campaign)
    ready = [c.pk for c in _sms_ready(campaign, user)]
    now = timezone.now()
    done = CampaignContact.objects.filter(pk__in=ready).update(status=ContactStatus.SENT, contacted_at=now, by=user)
    if done:
        _started(campaign, now)
    return done


def is_by_hand(campaign: Campaign) -> bool:
    """Channels whose contacts are marked one by one (SMS too: a message sent from a phone)."""
    return campaign.channel in (MarketingChannel.WECHAT, MarketingChannel.PHONE, MarketingChannel.SMS)


class NoConsent(Exception):
    pass


def mark_contacted(contact: CampaignContact, user, when: datetime.datetime | None = None) -> None:
    """WeChat or phone contact done by hand."""
    if contact.customer_id not in consenting_ids(contact.campaign, [contact.customer_id]):
        raise NoConsent(contact.customer_id)
    when = when or timezone.now()
    contact.status, contact.contacted_at, contact.by = ContactStatus.CONTACTED, when, user
    contact.save(update_fields=["status", "contacted_at", "by"])
    _started(contact.campaign, when)


@dataclass
class Group:
    customers: int = 0
    converted: int = 0
    orders: int = 0
    revenue: Decimal = field(default_factory=lambda: Decimal("0"))

    @property
    def rate(self) -> float | None:
        return self.converted / self.customers if self.customers else None

    @property
    def revenue_per_customer(self) -> Decimal | None:
        return (self.revenue / self.customers).quantize(Decimal("0.01")) if self.customers else None


@dataclass
class Results:
    contacted: Group
    holdout: Group
    by_segment: dict[str, dict[str, Group]]  # {rfm_class: {"contacted": Group, "holdout": Group}}

    @property
    def lift(self) -> float | None:
        if self.contacted.rate is None or self.holdout.rate is None:
            return None
        return self.contacted.rate - self.holdout.rate


def results(campaign: Campaign) -> Results:
    """Conversion and revenue of the contacted customers and of the hold-out group, overall and per RFM class."""
    window = datetime.timedelta(days=campaign.attribution_days)
    starts: dict[int, tuple[str, datetime.datetime | None]] = {}
    for contact in campaign.contacts.filter(status__in=[*CONTACTED, ContactStatus.HOLDOUT]):
        group = "holdout" if contact.status == ContactStatus.HOLDOUT else "contacted"
        starts[contact.customer_id] = (group, campaign.started_at if group == "holdout" else contact.contacted_at)
    classes = dict(CustomerSegment.objects.filter(customer_id__in=starts).values_list("customer_id", "rfm_class"))
    orders = defaultdict(list)
    if campaign.started_at:
        for o in Order.objects.completed().filter(customer_id__in=starts, ordered_at__gt=campaign.started_at) \
                .only("customer_id", "ordered_at", "amount"):
            orders[o.customer_id].append(o)
    total = {"contacted": Group(), "holdout": Group()}
    by_segment: dict[str, dict[str, Group]] = defaultdict(lambda: {"contacted": Group(), "holdout": Group()})
    for cid, (group, start) in starts.items():
        won = [o for o in orders[cid] if start and start < o.ordered_at <= start + window]
        for g in (total[group], by_segment[classes.get(cid) or "（未分层）"][group]):
            g.customers += 1
            g.converted += bool(won)
            g.orders += len(won)
            g.revenue += sum((o.amount for o in won), Decimal("0"))
    return Results(total["contacted"], total["holdout"], dict(sorted(by_segment.items())))
