"""Follow-up automation on a seeded data set: tasks for exactly the right customers, never twice."""

import datetime
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.utils import timezone

from kehu.customers.models import birthday_dates
from kehu.engagement.models import Feedback, FeedbackDimension, FeedbackRating, FollowUp
from kehu.marketing.automation import p_alive_supported, run_rules
from kehu.marketing.models import FollowUpRule
from kehu.segments.models import CustomerSegment, SegmentRun, SegmentSnapshot, class_code
from tests.conftest import make_customer

TODAY = datetime.date(2026, 11, 20)  # the feedback is dated from the real clock, so a few days back
BEFORE, AFTER = datetime.date(2026, 11, 13), datetime.date(2026, 11, 20)


def snapshot(customer, day, **classes):
    SegmentSnapshot.objects.create(as_of=day, customer=customer,
                                   **{col: class_code(col, name) for col, name in classes.items()})


def segment(customer, **fields):
    if "recency_days" in fields:  # a class row keeps the last purchase day
        fields["last_order_day"] = AFTER - datetime.timedelta(days=fields.pop("recency_days"))
    CustomerSegment.objects.update_or_create(customer=customer, defaults={"changed_on": AFTER, **fields})


def feedback(customer, score, days_ago=1):
    dim, _ = FeedbackDimension.objects.get_or_create(name="服务态度")
    fb = Feedback.objects.create(customer=customer, received_at=timezone.now() - datetime.timedelta(days=days_ago))
    FeedbackRating.objects.create(feedback=fb, dimension=dim, score=score)
    return fb


@pytest.fixture
def seeded(db, sam, mary, sue, alice):
    c = {}
    c["bday"] = make_customer(name="生日近", birthday=datetime.date(1990, 11, 25), owner=sam)
    c["bday_far"] = make_customer(name="生日远", birthday=datetime.date(1990, 12, 20), owner=sam)
    c["bday_past"] = make_customer(name="生日刚过", birthday=datetime.date(1990, 11, 19), owner=sam)
    c["sleep"] = make_customer(name="新沉睡")
    c["still"] = make_customer(name="一直沉睡", owner=sam)
    c["lost"] = make_customer(name="新流失", owner=sam)
    c["risk"] = make_customer(name="新风险", owner=sam)
    c["churn"] = make_customer(name="高价值低活跃", owner=sam)
    c["cheap"] = make_customer(name="低价值低活跃", owner=sam)
    c["alive"] = make_customer(name="高价值活跃", owner=sam)
    c["overdue"] = make_customer(name="逾期", owner=sam)
    c["angry"] = make_customer(name="差评", owner=sam)
    c["happy"] = make_customer(name="好评", owner=sam)
    snapshot(c["sleep"], BEFORE, lifecycle="活跃客户")
    snapshot(c["sleep"], AFTER, lifecycle="沉睡客户")
    SegmentRun.objects.create(as_of=BEFORE)
    SegmentRun.objects.create(as_of=AFTER)
    snapshot(c["still"], BEFORE, lifecycle="沉睡客户")
    snapshot(c["still"], AFTER, lifecycle="沉睡客户")
    # a line is written when a customer's classes changed: without one on AFTER, still sleeping then
    c["quiet"] = make_customer(name="未变沉睡", owner=sam)
    snapshot(c["quiet"], BEFORE, lifecycle="沉睡客户")
    snapshot(c["lost"], BEFORE, lifecycle="沉睡客户")
    snapshot(c["lost"], AFTER, lifecycle="流失客户")
    snapshot(c["risk"], BEFORE, lifecycle="活跃客户", rf_segment="冠军客户")
    snapshot(c["risk"], AFTER, lifecycle="活跃客户", rf_segment="有流失风险")
    segment(c["churn"], recency_days=100, p_alive=0.1, value_at_risk=Decimal("5000"), clv=Decimal("6000"))
    segment(c["cheap"], recency_days=100, p_alive=0.1, value_at_risk=Decimal("100"), clv=Decimal("150"))
    segment(c["alive"], recency_days=5, p_alive=0.9, value_at_risk=Decimal("5000"), clv=Decimal("9000"))
    segment(c["overdue"], recency_days=60, overdue=True)
    c["angry_fb"] = feedback(c["angry"], 2)
    feedback(c["happy"], 4)
    return c


def tasks():
    return {(f.customer.name, f.reason, f.assignee.username, f.due) for f in FollowUp.objects.select_related(
        "customer", "assignee")}


def test_it_creates_tasks_for_exactly_the_right_customers(seeded):
    assert p_alive_supported()
    created = run_rules(TODAY)
    fb = seeded["angry_fb"].id
    fb_due = max(timezone.localdate(seeded["angry_fb"].received_at) + datetime.timedelta(days=1), TODAY)
    assert tasks() == {
        ("生日近", "birthday:2026", "sam", datetime.date(2026, 11, 25)),
        ("新沉睡", "lifecycle:沉睡客户:2026-11-20", "mary", datetime.date(2026, 11, 23)),
        ("新流失", "lifecycle:流失客户:2026-11-20", "sam", datetime.date(2026, 11, 23)),
        ("新风险", "at_risk:有流失风险:2026-11-20", "sam", datetime.date(2026, 11, 23)),
        ("高价值低活跃", "p_alive:2026-08-12", "sam", datetime.date(2026, 11, 23)),
        ("逾期", "overdue:2026-09-21", "sam", datetime.date(2026, 11, 27)),
        ("差评", f"feedback:{fb}", "sue", fb_due),
    }
    assert created == {"birthday": 1, "lifecycle": 2, "at_risk": 1, "p_alive": 1, "overdue": 1, "feedback": 1}


def test_it_never_creates_the_same_task_twice(seeded):
    run_rules(TODAY)
    FollowUp.objects.filter(reason="birthday:2026").update(done=True)
    assert sum(run_rules(TODAY).values()) == 0
    assert sum(run_rules(TODAY + datetime.timedelta(days=1)).values()) == 0
    assert FollowUp.objects.count() == 7


def test_it_skips_disabled_rules_and_reads_thresholds(seeded):
    run_rules(TODAY)  # creates the rule rows with their defaults
    FollowUp.objects.all().delete()
    FollowUpRule.objects.filter(key="birthday").update(enabled=False)
    FollowUpRule.objects.filter(key="p_alive").update(min_value=50)
    created = run_rules(TODAY)
    assert "birthday" not in created
    assert created["p_alive"] == 2


def test_it_greets_a_birthday_on_29_february_on_the_28th():
    d = datetime.date
    assert birthday_dates(d(2027, 2, 27), 3) == {227: d(2027, 2, 27), 228: d(2027, 2, 28), 229: d(2027, 2, 28),
                                                 301: d(2027, 3, 1)}
    assert birthday_dates(d(2028, 2, 28), 2) == {228: d(2028, 2, 28), 229: d(2028, 2, 29)}
    assert birthday_dates(d(2026, 12, 30), 4) == {1230: d(2026, 12, 30), 1231: d(2026, 12, 31), 101: d(2027, 1, 1),
                                                  102: d(2027, 1, 2)}


def test_the_command_reports_what_it_created(seeded, capsys):
    call_command("followups", "--date", "2026-11-20")
    out = capsys.readouterr().out
    assert "生日祝福：1" in out and "共生成 7 个跟进任务" in out
    call_command("followups", "--date", "2026-11-20")
    assert "共生成 0 个跟进任务" in capsys.readouterr().out


def test_a_dry_run_creates_nothing(seeded, capsys):
    call_command("followups", "--date", "2026-11-20", "--dry-run")
    assert "将生成 7 个跟进任务" in capsys.readouterr().out
    assert FollowUp.objects.count() == 0


def test_an_admin_edits_the_rules_before_the_first_run(client, alice):
    client.force_login(alice)
    assert client.get("/settings/follow-up-rules/").status_code == 200
    assert FollowUpRule.objects.count() == 6
    assert FollowUpRule.objects.get(key="p_alive").threshold == 0.3
