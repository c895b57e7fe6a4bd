"""The customer pool (公海): customers whose owner has not followed up for N days go back to it; sales reps
claim them from it. Every change is kept in OwnershipChange.

"Followed up" means, for the current owner and that customer, the latest of: a communication they
recorded, a follow-up task of theirs marked done, or the moment they got the customer (claimed it;
else when the customer was created). Claiming is one conditional UPDATE (owner still empty), so two
reps claiming at once cannot both win.
"""

from __future__ import annotations

import datetime

from django.db import transaction
from django.db.models import F, Max, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone

from kehu.accounts import audit
from kehu.customers.models import Customer
from kehu.engagement.models import Communication, FollowUp

from .models import OwnershipChange

DEFAULT_DAYS = 30


def last_followed_up() -> QuerySet:
    """Owned customers annotated with `followed_up`: when their owner last did something for them."""
    talked = Communication.objects.filter(customer=OuterRef("pk"), author=OuterRef("owner")) \
        .values("customer").annotate(t=Max("occurred_at")).values("t")
    done = FollowUp.objects.filter(customer=OuterRef("pk"), assignee=OuterRef("owner"), done=True) \
        .values("customer").annotate(t=Max("done_at")).values("t")
    claimed = OwnershipChange.objects.filter(customer=OuterRef("pk"), to_user=OuterRef("owner")) \
        .values("customer").annotate(t=Max("at")).values("t")
    since = F("created_at")
    return Customer.objects.filter(owner__isnull=False).annotate(followed_up=Greatest(
        Coalesce(Subquery(talked), since), Coalesce(Subquery(done), since), Coalesce(Subquery(claimed), since)))


def stale(days: int = DEFAULT_DAYS, now: datetime.datetime | None = None) -> QuerySet:
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days)
    return last_followed_up().filter(followed_up__lt=cutoff)


@transaction.atomic
def return_stale(days: int = DEFAULT_DAYS, now: datetime.datetime | None = None, dry_run: bool = False) -> int:
    """Return every customer not followed up for `days` days to the pool; how many."""
    rows = list(stale(days, now).values_list("id", "owner_id"))
    if dry_run or not rows:
        return len(rows)
    reason = f"超过 {days} 天未跟进"
    OwnershipChange.objects.bulk_create([OwnershipChange(customer_id=cid, kind=OwnershipChange.Kind.RETURNED,
                                                         from_user_id=owner, reason=reason) for cid, owner in rows])
    for cid, owner in rows:  # only if the owner did not change meanwhile
        Customer.objects.filter(pk=cid, owner_id=owner).update(owner=None, version=F("version") + 1)
    audit.record(None, audit.AuditAction.UPDATE, "公海", {"returned": len(rows), "days": days},
                 codes=list(Customer.objects.filter(pk__in=[r[0] for r in rows]).values_list("code", flat=True)))
    return len(rows)


def pool() -> QuerySet:
    return Customer.objects.filter(owner__isnull=True)


@transaction.atomic
def claim(customer: Customer, user) -> bool:
    """Make `user` the owner if the customer is still in the pool; False when someone was quicker."""
    won = Customer.objects.filter(Q(pk=customer.pk) & Q(owner__isnull=True)) \
        .update(owner=user, version=F("version") + 1)
    if won:
        OwnershipChange.objects.create(customer=customer, kind=OwnershipChange.Kind.CLAIMED, to_user=user,
                                       reason="从公海领取")
        audit.record(user, audit.AuditAction.UPDATE, customer, {"owner": user.username, "from": "公海"})
    return bool(won)
