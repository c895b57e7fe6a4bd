"""Communications, follow-ups, feedback and preferences from the customer page; "my follow-ups"."""

import datetime

import pytest
from django.utils import timezone

from kehu.engagement.models import Communication, Feedback, FeedbackDimension, FollowUp, Preference
from kehu.sales.models import Category
from tests.conftest import make_customer
from tests.web.helpers import client_for, htmx

pytestmark = pytest.mark.django_db


def today() -> datetime.date:
    return timezone.localdate()


def test_it_records_a_communication_and_creates_the_follow_up(sam, zhang):
    due = today() + datetime.timedelta(days=3)
    r = client_for(sam).post(f"/engagement/{zhang.code}/communications/add/", {
        "comm-occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "comm-method": "phone",
        "comm-content": "询问新品到货时间", "comm-outcome": "有意向", "comm-next_follow_up": due.isoformat(),
    }, **htmx())
    html = r.content.decode()
    comm = Communication.objects.get(customer=zhang)
    assert comm.author == sam and comm.content == "询问新品到货时间"
    task = FollowUp.objects.get(customer=zhang)
    assert task.assignee == sam and task.due == due
    assert "询问新品到货时间" in html
    assert 'id="follow-ups" hx-swap-oob="true"' in html


def test_it_shows_a_chinese_error_for_a_communication_without_content(alice, zhang):
    r = client_for(alice).post(f"/engagement/{zhang.code}/communications/add/", {
        "comm-occurred_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"), "comm-method": "phone",
    }, **htmx())
    assert "这个字段是必填项" in r.content.decode()
    assert not Communication.objects.exists()


def test_it_adds_a_follow_up_and_marks_it_done(alice, zhang):
    c = client_for(alice)
    c.post(f"/engagement/{zhang.code}/follow-ups/add/", {"fu-title": "回访满意度", "fu-due": today().isoformat()},
           **htmx())
    task = FollowUp.objects.get(title="回访满意度")
    assert task.assignee == alice and not task.done
    r = c.post(f"/engagement/follow-ups/{task.pk}/done/", **htmx())
    assert "已完成" in r.content.decode()
    task.refresh_from_db()
    assert task.done and task.done_at is not None


def test_it_lists_my_follow_ups_by_due_date(sam, zhang):
    other = make_customer(name="王五", owner=sam)
    FollowUp.objects.create(customer=zhang, title="逾期的回访", due=today() - datetime.timedelta(days=2), assignee=sam)
    FollowUp.objects.create(customer=other, title="今天的电话", due=today(), assignee=sam)
    FollowUp.objects.create(customer=zhang, title="下周的拜访", due=today() + datetime.timedelta(days=5), assignee=sam)
    FollowUp.objects.create(customer=zhang, title="做完的事", due=today(), assignee=sam, done=True)
    html = client_for(sam).get("/engagement/follow-ups/").content.decode()
    overdue, rest = html.split('id="today"')
    due_today, upcoming = rest.split('id="upcoming"')
    assert "逾期的回访" in overdue and "今天的电话" in due_today and "下周的拜访" in upcoming
    assert "做完的事" not in html
    assert "王五" in due_today


def test_it_refuses_marking_done_for_a_viewer_or_someone_elses_customer(victor, sam, li):
    task = FollowUp.objects.create(customer=li, title="回访", due=today(), assignee=None)
    assert client_for(victor).post(f"/engagement/follow-ups/{task.pk}/done/").status_code == 403
    assert client_for(sam).post(f"/engagement/follow-ups/{task.pk}/done/").status_code == 404
    task.refresh_from_db()
    assert not task.done


def test_it_records_feedback_with_ratings(sue, zhang):
    taste = FeedbackDimension.objects.create(name="口味", position=1)
    service = FeedbackDimension.objects.create(name="服务态度", position=2)
    r = client_for(sue).post(f"/engagement/{zhang.code}/feedback/add/", {
        "fb-received_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        f"fb-score_{taste.pk}": "5", f"fb-score_{service.pk}": "3", "fb-comment": "菜很好吃，上菜慢",
    }, **htmx())
    feedback = Feedback.objects.get(customer=zhang)
    assert feedback.recorded_by == sue and feedback.average_score == 4.0
    html = r.content.decode()
    assert "菜很好吃，上菜慢" in html and "口味" in html and "平均评分" in html


def test_it_refuses_empty_feedback(alice, zhang):
    r = client_for(alice).post(f"/engagement/{zhang.code}/feedback/add/", {
        "fb-received_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M")}, **htmx())
    assert "请至少填写一项评分或评价内容" in r.content.decode()
    assert not Feedback.objects.exists()


def test_it_saves_preferences(alice, zhang):
    makeup = Category.objects.create(name="彩妆")
    r = client_for(alice).post(f"/engagement/{zhang.code}/preferences/", {
        "pref-categories": [makeup.pk], "pref-preferred_channel": "wechat", "pref-notes": "喜欢新品"}, **htmx())
    pref = Preference.objects.get(customer=zhang)
    assert list(pref.categories.all()) == [makeup] and pref.preferred_channel == "wechat"
    assert "微信/公众号" in r.content.decode()
