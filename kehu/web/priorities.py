"""What the home page puts first for the people who decide and for customer service (今日重点).

Plain functions over querysets, each a fixed handful of queries however much data there is:

* managers and admins — the customers with the most value at risk (the risk list's first rows), birthdays in
  the coming week (through `Customer.birthday_md`, no birthday is decrypted to find them), overdue
  follow-ups per rep, yesterday's new customers and revenue, imports that stopped midway or rejected rows;
* customer service — low-rated feedback nobody has answered yet (no communication with the customer since
  it came in, and its 差评回访 follow-up not done).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db.models import CharField, Count, Exists, Min, OuterRef, Subquery, Sum, Value
from django.db.models.functions import Cast, Concat
from django.utils import timezone

from kehu.customers.models import Customer, birthday_dates
from kehu.engagement.models import Communication, Feedback, FollowUp
from kehu.exchange.models import ImportBatch
from kehu.marketing.automation import rule
from kehu.marketing.models import RuleKey
from kehu.sales.models import Order
from kehu.segments.risk import RiskQuery, row_values

SHOWN = 5
BIRTHDAY_DAYS = 7
OVERDUE_SHOWN = 8
IMPORT_DAYS = 14


def _day_range(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    start = timezone.make_aware(datetime.datetime.combine(day, datetime.time()))
    return start, start + datetime.timedelta(days=1)


def at_risk(user, size: int = SHOWN) -> dict:
    """The customers with the most value at risk, as the risk list orders them, and how many have any."""
    query = RiskQuery.from_params({}, user)
    page = query.page(size=size)
    rows = [{"customer": seg.customer, **row_values(seg, page.extra["actions"])} for seg in page.items]
    return {"rows": rows, "total": query.rows().count(),
            "value": query.rows().aggregate(total=Sum("value_at_risk"))["total"]}


@dataclass(frozen=True)
class Birthday:
    customer: Customer
    day: datetime.date  # this year's (or next year's) date of the birthday


def birthdays(user, today: datetime.date, days: int = BIRTHDAY_DAYS) -> list[Birthday]:
    """Visible customers whose birthday falls in today … today + days − 1, soonest first.
    29 February counts on 28 February in other years (as the 生日祝福 follow-up rule has it)."""
    dates = birthday_dates(today, days)
    found = Customer.objects.visible_to(user).filter(birthday_md__in=dates) \
        .only("id", "code", "name", "birthday_md").order_by("id")
    return sorted((Birthday(c, dates[c.birthday_md]) for c in found), key=lambda b: (b.day, b.customer.name))


def overdue_by_rep(today: datetime.date, shown: int = OVERDUE_SHOWN) -> dict:
    """Open follow-ups past their date: a count per assignee (most first) and the oldest ones."""
    overdue = FollowUp.objects.open().filter(due__lt=today)
    reps = list(overdue.values("assignee", "assignee__username", "assignee__first_name", "assignee__last_name")
                .annotate(n=Count("id"), oldest=Min("due")).order_by("-n", "oldest", "assignee"))
    for rep in reps:
        rep["name"] = (f"{rep['assignee__last_name'] or ''}{rep['assignee__first_name'] or ''}".strip()
                       or rep["assignee__username"] or "")
    oldest = list(overdue.select_related("customer", "assignee")
                  .only("id", "title", "due", "customer__code", "customer__name", "assignee__username",
                        "assignee__first_name", "assignee__last_name").order_by("due", "id")[:shown])
    return {"reps": reps, "oldest": oldest, "total": sum(rep["n"] for rep in reps)}


def yesterday(user, today: datetime.date, shown: int = SHOWN) -> dict:
    """Customers registered yesterday and yesterday's completed orders (the customers `user` may see)."""
    start, end = _day_range(today - datetime.timedelta(days=1))
    visible = Customer.objects.visible_to(user)
    new = visible.filter(registered_at__gte=start, registered_at__lt=end)
    orders = Order.objects.completed().filter(customer__in=visible, ordered_at__gte=start, ordered_at__lt=end) \
        .aggregate(n=Count("id"), total=Sum("amount"))
    return {"day": start.date(), "new_total": new.count(),
            "new": list(new.only("id", "code", "name", "registered_at").order_by("-registered_at", "-id")[:shown]),
            "orders": orders["n"], "revenue": orders["total"]}


def import_problems(today: datetime.date, days: int = IMPORT_DAYS) -> list[dict]:
    """Imports of the last `days` days (not reverted) that failed, stopped midway or rejected rows:
    {"batch", "rejected"} each, newest first."""
    since, _ = _day_range(today - datetime.timedelta(days=days))
    batches = ImportBatch.objects.filter(started_at__gte=since).exclude(status=ImportBatch.Status.REVERTED) \
        .defer("problems").select_related("user").order_by("-started_at", "-id")
    found = ({"batch": b, "rejected": b.total("rejected")} for b in batches)
    return [f for f in found
            if f["rejected"] or f["batch"].interrupted or f["batch"].status == ImportBatch.Status.FAILED]


def open_low_feedback(user, today: datetime.date, shown: int = 20) -> dict:
    """Feedback of the last days (the 差评回访 rule's `days`) with a rating at or below its threshold that
    nobody has answered: no communication with the customer since, its follow-up (if made) not done."""
    feedback_rule = rule(RuleKey.FEEDBACK)
    since, _ = _day_range(today - datetime.timedelta(days=feedback_rule.days))
    reason = Concat(Value("feedback:"), Cast(OuterRef("pk"), CharField()))
    tasks = FollowUp.objects.filter(customer=OuterRef("customer"), reason=reason)
    answered = Communication.objects.filter(customer=OuterRef("customer"), occurred_at__gt=OuterRef("received_at"))
    rows = (Feedback.objects.filter(received_at__gte=since, customer__in=Customer.objects.visible_to(user))
            .annotate(lowest=Min("ratings__score")).filter(lowest__lte=feedback_rule.threshold)
            .annotate(task_done=Exists(tasks.filter(done=True)), answered=Exists(answered),
                      task=Subquery(tasks.filter(done=False).values("pk")[:1]))
            .filter(task_done=False, answered=False)
            .select_related("customer").only("id", "received_at", "comment", "customer__code", "customer__name")
            .order_by("lowest", "received_at", "id"))
    found = list(rows[:shown + 1])
    return {"rows": found[:shown], "more": len(found) > shown, "threshold": feedback_rule.threshold,
            "days": feedback_rule.days}
