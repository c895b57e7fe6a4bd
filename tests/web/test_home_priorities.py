"""The home of the people who decide (manager, admin) and of customer service: today's priorities, each a link
to where it is acted on, in a fixed number of queries however many rows there are."""

import datetime
import re
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Feedback, FeedbackDimension, FeedbackRating, FollowUp
from kehu.exchange.models import ImportBatch
from kehu.sales.models import Order
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db


def _rows(html: str, kind: str, attr: str = "data-code") -> list[str]:
    return re.findall(rf'data-priority="{kind}" {attr}="([^"]*)"', html)


def _risk(customer, value: str, p_alive: float = 0.2):
    CustomerSegment.objects.create(customer=customer, changed_on=timezone.localdate(), p_alive=p_alive,
                                   value_at_risk=Decimal(value), clv=Decimal(value))


def test_it_puts_the_customers_with_most_value_at_risk_first(mary, sam):
    values = {make_customer(name=f"风险{i}", owner=sam).code: f"{100 * (i * 7 % 11) + 5}.00" for i in range(8)}
    for code, value in values.items():
        _risk(Customer.objects.get(code=code), value)
    expected = sorted(values, key=lambda c: Decimal(values[c]), reverse=True)[:5]
    html = client_for(mary).get("/").content.decode()
    assert _rows(html, "at-risk") == expected
    total = sum(Decimal(v) for v in values.values())
    assert f'data-figure="value-at-risk">¥{total:,.2f}<' in html
    assert f'href="/customers/{expected[0]}/"' in html


def test_it_lists_birthdays_of_the_coming_week_soonest_first(alice):
    today = timezone.localdate()
    inside = {}
    for offset in (5, 0, 6, 2):
        day = today + datetime.timedelta(days=offset)
        c = make_customer(name=f"生日{offset}", birthday=day.replace(year=1990) if (day.month, day.day) != (2, 29)
                          else datetime.date(1992, 2, 29))
        inside[c.code] = offset
    for offset in (7, -1, 30):
        day = today + datetime.timedelta(days=offset)
        make_customer(name=f"不在本周{offset}", birthday=datetime.date(1985, day.month, min(day.day, 28)))
    make_customer(name="没有生日")
    html = client_for(alice).get("/").content.decode()
    assert _rows(html, "birthday") == sorted(inside, key=inside.get)


def test_it_keeps_the_month_day_key_with_the_birthday(alice):
    c = make_customer(name="改生日", birthday=datetime.date(1990, 3, 15))
    assert Customer.objects.filter(birthday_md=315).get() == c
    c.birthday = datetime.date(1991, 12, 1)
    c.save()
    c.refresh_from_db()
    assert c.birthday_md == 1201
    c.birthday = None
    c.save()
    assert Customer.objects.get(pk=c.pk).birthday_md is None


def test_it_counts_overdue_follow_ups_per_rep(mary, sam, sue, zhang, li):
    today = timezone.localdate()
    made = []
    for who, days in ((sam, 3), (sam, 1), (sam, 9), (sue, 2), (None, 4)):
        made.append(FollowUp.objects.create(customer=zhang, title=f"逾期{days}", assignee=who,
                                            due=today - datetime.timedelta(days=days)))
    FollowUp.objects.create(customer=li, title="今天的", assignee=sue, due=today)
    FollowUp.objects.create(customer=li, title="已完成", assignee=sue, due=today - datetime.timedelta(days=20),
                            done=True)
    html = client_for(mary).get("/").content.decode()
    # most overdue first; a tie goes to the rep whose oldest task is older (unassigned: 4 days, sue: 2)
    assert _rows(html, "rep", "data-rep") == ["sam", "", "sue"]
    assert re.findall(r'data-overdue="(\d+)"', html) == ["3", "1", "1"]
    oldest_first = [t.pk for t in sorted(made, key=lambda t: t.due)]
    assert _rows(html, "overdue", "data-follow-up") == [str(pk) for pk in oldest_first]
    assert f'href="/customers/{zhang.code}/#follow-up-{oldest_first[0]}"' in html
    assert 'data-figure="team-overdue">5<' in html


def test_it_shows_yesterdays_new_customers_and_revenue(mary):
    now = timezone.localtime()
    yesterday_noon = now.replace(hour=12, minute=0, second=0, microsecond=0) - datetime.timedelta(days=1)
    new = [make_customer(name=f"昨天{i}", registered_at=yesterday_noon + datetime.timedelta(minutes=i))
           for i in range(2)]
    make_customer(name="前天", registered_at=yesterday_noon - datetime.timedelta(days=1))
    make_customer(name="今天", registered_at=now)
    old = make_customer(name="老客户", registered_at=now - datetime.timedelta(days=100))
    for amount, when in (("120.50", yesterday_noon), ("80.00", yesterday_noon + datetime.timedelta(hours=3)),
                         ("999.00", yesterday_noon - datetime.timedelta(days=1))):
        Order.objects.create(customer=old, amount=Decimal(amount), ordered_at=when)
    html = client_for(mary).get("/").content.decode()
    assert _rows(html, "new") == [c.code for c in reversed(new)]
    assert 'data-figure="new-yesterday">2<' in html
    assert 'data-figure="revenue-yesterday">¥200.50<' in html


def test_it_lists_imports_waiting_for_someone(alice):
    now = timezone.now()
    rejected = ImportBatch.objects.create(file_name="有错.xlsx", status="done",
                                          counts={"customers": {"new": 3, "rejected": 2}})
    stopped = ImportBatch.objects.create(file_name="中断.xlsx", status="incomplete")
    ImportBatch.objects.create(file_name="好的.xlsx", status="done", counts={"customers": {"new": 5, "rejected": 0}})
    ImportBatch.objects.create(file_name="撤销.xlsx", status="reverted", counts={"customers": {"rejected": 4}})
    ImportBatch.objects.create(file_name="很久以前.xlsx", status="incomplete",
                               started_at=now - datetime.timedelta(days=40))
    html = client_for(alice).get("/").content.decode()
    assert _rows(html, "import", "data-batch") == [str(stopped.pk), str(rejected.pk)]
    assert f'href="/exchange/import/{rejected.pk}/"' in html and "2 行未导入" in html


def _feedback(customer, score: int, days_ago: int = 1, comment: str = "") -> Feedback:
    dimension, _ = FeedbackDimension.objects.get_or_create(name="服务态度")
    fb = Feedback.objects.create(customer=customer, comment=comment,
                                 received_at=timezone.now() - datetime.timedelta(days=days_ago))
    FeedbackRating.objects.create(feedback=fb, dimension=dimension, score=score)
    return fb


def test_service_sees_low_feedback_nobody_answered(sue, zhang, li):
    waiting = _feedback(zhang, 1, comment="太慢了")
    with_task = _feedback(li, 2, days_ago=3)
    task = FollowUp.objects.create(customer=li, title="差评回访", due=timezone.localdate(), assignee=sue,
                                   reason=f"feedback:{with_task.pk}")
    other = make_customer(name="已回访")
    done = _feedback(other, 1)
    FollowUp.objects.create(customer=other, title="差评回访", due=timezone.localdate(), done=True,
                            reason=f"feedback:{done.pk}")
    called = make_customer(name="已沟通")
    _feedback(called, 2, days_ago=2)
    Communication.objects.create(customer=called, method="phone", content="道歉并补偿")
    _feedback(make_customer(name="好评"), 5)
    _feedback(make_customer(name="很久以前"), 1, days_ago=45)
    html = client_for(sue).get("/").content.decode()
    assert _rows(html, "feedback", "data-feedback") == [str(waiting.pk), str(with_task.pk)]
    assert f'href="/customers/{li.code}/#follow-up-{task.pk}"' in html
    assert f'href="/customers/{zhang.code}/#feedback"' in html and "太慢了" in html


def test_sales_and_viewers_keep_their_own_home(sam, victor, zhang):
    _risk(zhang, "500.00")
    _feedback(zhang, 1)
    for user in (sam, victor):
        html = client_for(user).get("/").content.decode()
        assert "今日重点" not in html and 'data-priority="' not in html
        assert "今天要跟进" in html


def _home_queries(user) -> int:
    client = client_for(user)
    client.get("/")  # sessions, caches
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    return len(queries)


def test_the_manager_home_costs_the_same_few_queries_with_more_rows(mary, sam, sue):
    today = timezone.localdate()

    def add(n: int) -> None:
        for i in range(n):
            c = make_customer(name=f"客户{i}", owner=sam, birthday=today.replace(year=1990) if today.month != 2
                              or today.day != 29 else datetime.date(1992, 2, 29))
            _risk(c, f"{100 + i}.00")
            FollowUp.objects.create(customer=c, title="逾期", assignee=sam if i % 2 else sue,
                                    due=today - datetime.timedelta(days=1))
            ImportBatch.objects.create(file_name=f"{i}.xlsx", status="incomplete")
            _feedback(c, 1)

    add(1)
    few = _home_queries(mary)
    add(6)
    assert _home_queries(mary) == few
    assert few <= 20
    service = _home_queries(sue)
    add(3)
    assert _home_queries(sue) == service <= 12
