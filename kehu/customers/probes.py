"""Finding out whether a contact value is a customer's, without making kehu an oracle for it.

Two places answer "is this number someone's?" to a user who may not see every customer or every contact:

* 来电查询 (caller lookup, `caller_lookup`): the one way for a role that sees contacts masked to find a
  customer by an exact mobile (the ordinary search does not match contact values for them, see
  `filters.py`). It returns the customer only if the user may see it — "not found" otherwise, the same
  answer as for a number nobody has — and it never says on which list the number is.
* The duplicate check of the customer form (web, API, import): when the existing customer belongs to a
  colleague the user may not see, the message says so without a name, a code or an id.

Both are written to the audit log (the value as a keyed hash) and rate-limited per user per hour
(KEHU_LOOKUPS_PER_HOUR, KEHU_DUPLICATE_PROBES_PER_HOUR; 30 each by default): 10,000 guesses take 333 hours,
not a minute. The audit log itself is the counter, so the limit holds across processes and restarts.
"""

import contextlib
import datetime
from contextvars import ContextVar

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from kehu.accounts import audit
from kehu.lib.crypto import audit_hash
from kehu.lib.phones import normalize_mobile

from .models import Customer

WINDOW = datetime.timedelta(hours=1)

_kept: ContextVar[list | None] = ContextVar("kehu_probe_entries", default=None)


class RateLimited(Exception):
    """Too many lookups or hidden-duplicate hits in the last hour."""

    def __init__(self, limit: int):
        super().__init__(limit)
        self.limit = limit


def lookups_per_hour() -> int:
    return int(getattr(settings, "KEHU_LOOKUPS_PER_HOUR", 30))


def duplicate_probes_per_hour() -> int:
    return int(getattr(settings, "KEHU_DUPLICATE_PROBES_PER_HOUR", 30))


def recent(user, action: str, now: datetime.datetime | None = None) -> int:
    """How many `action` entries (refused attempts not counted) `user` has in the last hour."""
    since = (now or timezone.now()) - WINDOW
    return audit.AuditEntry.objects.filter(user=user, action=action, at__gte=since,
                                           details__refused__isnull=True).count()


def _record(user, action: str, target=None, details: dict | None = None, code: str = "") -> None:
    entry = audit.record(user, action, target, details, code=code)
    kept = _kept.get()
    if kept is not None:
        kept.append(entry)


# ── 来电查询 ─────────────────────────────────────────────────────────────────────────────────────

def caller_lookup(user, text: str) -> Customer | None:
    """The customer with this exact mobile if `user` may see it, else None. Raises InvalidMobile for text
    that is no mobile and RateLimited past the hourly limit; every attempt is audited (hashed)."""
    mobile = normalize_mobile(text)
    details = {"field": "mobile", "value_hash": audit_hash(mobile)}
    limit = lookups_per_hour()
    if recent(user, audit.AuditAction.LOOKUP) >= limit:
        _record(user, audit.AuditAction.LOOKUP, details={**details, "refused": True})
        raise RateLimited(limit)
    customer = Customer.objects.visible_to(user).by_mobile(mobile).select_related("owner").first()
    _record(user, audit.AuditAction.LOOKUP, customer, {**details, "found": customer is not None})
    return customer


def rate_limited_message(limit: int) -> str:
    return _("查询过于频繁：每小时最多 %(n)s 次，请稍后再试。") % {"n": limit}


# ── duplicates the user may not see ──────────────────────────────────────────────────────────────

def guarded(user) -> bool:
    """Whether duplicates may be hidden from `user` (a sales rep sees only own customers)."""
    return user is not None and getattr(user, "is_authenticated", False) and not user.sees_all_customers


def hidden_from(user, customer: Customer) -> bool:
    return guarded(user) and not Customer.objects.visible_to(user).filter(pk=customer.pk).exists()


def duplicate_probes_exhausted(user) -> bool:
    return guarded(user) and recent(user, audit.AuditAction.DUPLICATE) >= duplicate_probes_per_hour()


def record_hidden_duplicate(user, field: str, value: str, existing: Customer) -> None:
    """Audit a duplicate check that hit a colleague's customer (the code is for the manager who reads the log)."""
    _record(user, audit.AuditAction.DUPLICATE, details={"field": field, "value_hash": audit_hash(value)},
            code=existing.code)


def hidden_duplicate_message(field: str) -> str:
    return {
        "mobile": _("该手机号已属于另一位同事的客户，请联系经理"),
        "email": _("该电子邮箱已属于另一位同事的客户，请联系经理"),
        "wechat": _("该微信号已属于另一位同事的客户，请联系经理"),
    }[field]


def duplicate_limit_message() -> str:
    return _("查重提示已达每小时上限（%(n)s 次），暂时不能保存联系方式，请稍后再试或联系经理") % {
        "n": duplicate_probes_per_hour()}


@contextlib.contextmanager
def kept_through_rollback():
    """Lookups and hidden-duplicate hits recorded inside are written again if a transaction inside rolls them
    back (an import's dry run rolls everything back; its probes must stay audited and counted)."""
    entries: list = []
    token = _kept.set(entries)
    try:
        yield
    finally:
        _kept.reset(token)
        still = set(audit.AuditEntry.objects.filter(pk__in=[e.pk for e in entries]).values_list("pk", flat=True))
        gone = {e.pk for e in entries} - still
        for entry in entries:
            if entry.pk in gone:
                audit.AuditEntry.objects.create(**{f.attname: getattr(entry, f.attname)
                                                   for f in entry._meta.concrete_fields if f.name != "id"})
