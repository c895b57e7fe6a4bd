"""Follow-up automation (自动跟进): rules that turn segments, birthdays and feedback into tasks.

Each rule yields candidate tasks with a `reason` key (FollowUp.reason). A key already present for that
customer — open or done — is never created again, so running the rules twice creates nothing new:

* ``birthday:2026``                    birthday within `days` days (生日祝福), once a year
* ``lifecycle:沉睡客户:2026-11-20``     moved into 沉睡/流失 between the two latest snapshots
* ``at_risk:有流失风险:2026-11-20``     moved into an at-risk class (FollowUpRule.classes)
* ``p_alive:2026-08-03``               p_alive < threshold while value at stake ≥ min_value, once per
                                       last-purchase date (a new purchase starts a new episode)
* ``overdue:2026-08-03``               overdue against the customer's own rhythm, once per last purchase
* ``feedback:<id>``                    a rating ≤ threshold → service follow-up due the next day

Tasks go to the customer's owner, else the fallback user (the first active manager, else admin);
feedback tasks go to a service-role user (else the owner/fallback).
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from decimal import Decimal

from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from kehu.accounts.models import Role, User
from kehu.customers.models import Customer, birthday_dates
from kehu.engagement.models import Feedback, FollowUp
from kehu.segments.models import CustomerSegment, SegmentRun, SegmentSnapshot, class_code

from .models import FollowUpRule, RuleKey

DEFAULT_RULES: dict[str, dict] = {
    RuleKey.BIRTHDAY: {"days": 7, "due_days": 0},
    RuleKey.LIFECYCLE: {"due_days": 3},
    RuleKey.AT_RISK: {"due_days": 3, "classes": "rf_segment:有流失风险,rf_segment:不能失去,rfm_class:重要挽留客户"},
    RuleKey.P_ALIVE: {"due_days": 3, "threshold": 0.3, "min_value": Decimal("1000")},
    RuleKey.OVERDUE: {"due_days": 7},
    RuleKey.FEEDBACK: {"days": 30, "due_days": 1, "threshold": 2},
}
WATCHED_STAGES = ("沉睡客户", "流失客户")
BATCH = 2000


def rules() -> dict[str, FollowUpRule]:
    """Every rule row, created with its defaults the first time."""
    found = {r.key: r for r in FollowUpRule.objects.all()}
    for key, defaults in DEFAULT_RULES.items():
        if key not in found:
            found[key], _ = FollowUpRule.objects.get_or_create(key=key, defaults=defaults)
    return found


def rule(key: str) -> FollowUpRule:
    """One rule as saved, or with its defaults if it was never saved (read only: nothing is written)."""
    return FollowUpRule.objects.filter(key=key).first() or FollowUpRule(key=key, **DEFAULT_RULES[key])


def p_alive_supported() -> bool:
    """The churn rule needs CustomerSegment.p_alive and a value at stake (value_at_risk or clv)."""
    names = {f.name for f in CustomerSegment._meta.get_fields()}
    return "p_alive" in names and bool({"value_at_risk", "clv"} & names)


@dataclass(frozen=True)
class Task:
    customer_id: int
    reason: str
    title: str
    due: datetime.date
    service: bool = False  # assigned to customer service rather than the owner


def birthday_tasks(rule: FollowUpRule, today: datetime.date) -> list[Task]:
    """Birthdays today … today + days, found by their month and day (Customer.birthday_md), none decrypted."""
    dates = birthday_dates(today, rule.days + 1)
    tasks = []
    qs = Customer.objects.filter(birthday_md__in=dates).only("id", "name", "birthday_md").order_by("id")
    for c in qs.iterator(chunk_size=BATCH):
        day = dates[c.birthday_md]
        tasks.append(Task(c.id, f"birthday:{day.year}", f"生日祝福：{c.name}（{day.month}月{day.day}日）", day))
    return tasks


def _two_latest_dates() -> tuple[datetime.date, datetime.date] | None:
    """The days of the two latest classification runs."""
    dates = list(SegmentRun.objects.order_by("-as_of").values_list("as_of", flat=True)[:2])
    return (dates[1], dates[0]) if len(dates) == 2 else None


def _moved_into(column: str, name: str, before: datetime.date, after: datetime.date) -> list[int]:
    """Customers in `name` on `after` who were not in it on `before` (or not classified then)."""
    code = class_code(column, name)
    was = SegmentSnapshot.objects.on(before).filter(**{column: code}).values("customer_id")
    return list(SegmentSnapshot.objects.on(after).filter(**{column: code})
                .exclude(customer_id__in=was).values_list("customer_id", flat=True))


def _class_tasks(pairs: list[tuple[str, str]], prefix: str, title: str, rule: FollowUpRule,
                 today: datetime.date) -> list[Task]:
    dates = _two_latest_dates()
    if dates is None:
        return []
    before, after = dates
    due = today + datetime.timedelta(days=rule.due_days)
    tasks = []
    for column, name in pairs:
        ids = _moved_into(column, name, before, after)
        names = dict(Customer.objects.filter(id__in=ids).values_list("id", "name"))
        for cid in ids:
            tasks.append(Task(cid, f"{prefix}:{name}:{after.isoformat()}", title.format(name=name, customer=names[cid]),
                              due))
    return tasks


def lifecycle_tasks(rule: FollowUpRule, today: datetime.date) -> list[Task]:
    return _class_tasks([("lifecycle", s) for s in WATCHED_STAGES], "lifecycle", "回访{name}：{customer}", rule, today)


def at_risk_classes(rule: FollowUpRule) -> list[tuple[str, str]]:
    pairs = []
    for item in rule.classes.replace("，", ",").split(","):
        column, _, name = item.strip().partition(":")
        if column and name:
            pairs.append((column.strip(), name.strip()))
    return pairs


def at_risk_tasks(rule: FollowUpRule, today: datetime.date) -> list[Task]:
    return _class_tasks(at_risk_classes(rule), "at_risk", "流失风险（{name}）：{customer}", rule, today)


def p_alive_tasks(rule: FollowUpRule, today: datetime.date) -> list[Task]:
    if not p_alive_supported():
        return []
    value = "value_at_risk" if "value_at_risk" in {f.name for f in CustomerSegment._meta.get_fields()} else "clv"
    rows = CustomerSegment.objects.filter(p_alive__lt=rule.threshold, **{f"{value}__gte": rule.min_value}) \
        .select_related("customer").only("customer__name", "last_order_day", "p_alive")
    due = today + datetime.timedelta(days=rule.due_days)
    tasks = []
    for seg in rows:
        last = seg.last_order_day
        if last is not None:
            tasks.append(Task(seg.customer_id, f"p_alive:{last.isoformat()}",
                              f"流失预警：{seg.customer.name}（活跃概率 {seg.p_alive:.0%}）", due))
    return tasks


def overdue_tasks(rule: FollowUpRule, today: datetime.date) -> list[Task]:
    rows = CustomerSegment.objects.filter(overdue=True).select_related("customer") \
        .only("customer__name", "last_order_day")
    due = today + datetime.timedelta(days=rule.due_days)
    tasks = []
    for seg in rows:
        last = seg.last_order_day
        if last is not None:
            tasks.append(Task(seg.customer_id, f"overdue:{last.isoformat()}",
                              f"逾期未购：{seg.customer.name}（上次消费 {last.isoformat()}）", due))
    return tasks


def feedback_tasks(rule: FollowUpRule, today: datetime.date) -> list[Task]:
    since = timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=rule.days),
                                                          datetime.time()))
    rows = Feedback.objects.filter(received_at__gte=since).annotate(lowest=Min("ratings__score")) \
        .filter(lowest__lte=rule.threshold).select_related("customer")
    tasks = []
    for fb in rows:
        received = timezone.localdate(fb.received_at)
        due = max(received + datetime.timedelta(days=rule.due_days), today)
        tasks.append(Task(fb.customer_id, f"feedback:{fb.id}", f"差评回访：{fb.customer.name}（最低 {fb.lowest} 分）",
                          due, service=True))
    return tasks


RULES = {
    RuleKey.BIRTHDAY: birthday_tasks,
    RuleKey.LIFECYCLE: lifecycle_tasks,
    RuleKey.AT_RISK: at_risk_tasks,
    RuleKey.P_ALIVE: p_alive_tasks,
    RuleKey.OVERDUE: overdue_tasks,
    RuleKey.FEEDBACK: feedback_tasks,
}


def fallback_user() -> User | None:
    """Who gets the tasks of customers without an owner: the first active manager, else admin."""
    for role in (Role.MANAGER, Role.ADMIN):
        user = User.objects.filter(role=role, is_active=True).order_by("id").first()
        if user:
            return user
    return None


def service_user() -> User | None:
    return User.objects.filter(role=Role.SERVICE, is_active=True).order_by("id").first()


def run_rules(today: datetime.date | None = None, dry_run: bool = False) -> dict[str, int]:
    """Create the tasks the enabled rules call for, none twice; {rule key: tasks created}."""
    today = today or timezone.localdate()
    found = rules()
    fallback, service = fallback_user(), service_user()
    created: dict[str, int] = {}
    for key, build in RULES.items():
        rule = found[key]
        if not rule.enabled:
            continue
        tasks = {(t.customer_id, t.reason): t for t in build(rule, today)}
        created[key] = _create(list(tasks.values()), fallback, service, dry_run)
    return created


@transaction.atomic
def _create(tasks: list[Task], fallback: User | None, service: User | None, dry_run: bool) -> int:
    if not tasks:
        return 0
    ids = {t.customer_id for t in tasks}
    existing = set(FollowUp.objects.filter(customer_id__in=ids, reason__in={t.reason for t in tasks})
                   .values_list("customer_id", "reason"))
    owners = dict(Customer.objects.filter(id__in=ids).values_list("id", "owner_id"))
    new = []
    for t in sorted(tasks, key=lambda t: (t.customer_id, t.reason)):
        if (t.customer_id, t.reason) in existing:
            continue
        owner_id = owners.get(t.customer_id) or (fallback.pk if fallback else None)
        assignee_id = service.pk if t.service and service else owner_id
        new.append(FollowUp(customer_id=t.customer_id, title=t.title[:200], due=t.due, assignee_id=assignee_id,
                            reason=t.reason[:40]))
    if not dry_run:
        FollowUp.objects.bulk_create(new, batch_size=BATCH)
    return len(new)
