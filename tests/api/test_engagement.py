import datetime

import pytest
from django.utils import timezone

from kehu.engagement.models import Communication, FollowUp

pytestmark = pytest.mark.django_db


def tomorrow() -> datetime.date:
    return timezone.localdate() + datetime.timedelta(days=1)


def test_a_communication_with_a_next_date_makes_a_follow_up(api_as, sam, zhang):
    response = api_as(sam).post(f"/api/customers/{zhang.code}/communications", {
        "method": "phone", "content": "询问新品到货时间", "next_follow_up": tomorrow().isoformat(),
    }, content_type="application/json")
    assert response.status_code == 201, response.content
    comm = Communication.objects.get()
    assert comm.author == sam and comm.customer == zhang
    task = FollowUp.objects.get()
    assert task.assignee == sam and task.due == tomorrow()


def test_a_communication_needs_a_known_method(api_as, sam, zhang):
    response = api_as(sam).post(f"/api/customers/{zhang.code}/communications",
                                {"method": "pigeon", "content": "飞鸽传书"}, content_type="application/json")
    assert response.status_code == 422
    assert "method" in response.json()["errors"]
    assert not Communication.objects.exists()


def test_communications_are_listed_newest_first(api_as, sue, zhang, django_assert_max_num_queries):
    client = api_as(sue)
    now = timezone.now()
    for days in range(10):
        Communication.objects.create(customer=zhang, occurred_at=now - datetime.timedelta(days=days),
                                     method="wechat", content=f"第{days}次", author=sue)
    # 6th: token auth's lock-out check; on SQLite 2 more: the token refresh's short busy_timeout, set and reset
    with django_assert_max_num_queries(8):
        items = client.get(f"/api/customers/{zhang.code}/communications").json()["items"]
    assert [c["content"] for c in items[:2]] == ["第0次", "第1次"]
    assert items[0]["author"]["username"] == "sue"


def test_my_follow_ups_are_mine_and_open(api_as, sam, sue, zhang, li, django_assert_max_num_queries):
    today = timezone.localdate()
    mine = FollowUp.objects.create(customer=zhang, title="回访", due=today, assignee=sam)
    FollowUp.objects.create(customer=zhang, title="已完成", due=today, assignee=sam, done=True)
    FollowUp.objects.create(customer=zhang, title="苏的", due=today, assignee=sue)
    FollowUp.objects.create(customer=li, title="别人的客户", due=today, assignee=sam)
    client = api_as(sam)
    # 5th: token auth's lock-out check; on SQLite 2 more: the token refresh's short busy_timeout, set and reset
    with django_assert_max_num_queries(7):
        response = client.get("/api/follow-ups")
    assert [t["id"] for t in response.json()["items"]] == [mine.pk]
    assert response.json()["items"][0]["customer"] == zhang.code


def test_follow_ups_due_by_a_day_include_the_overdue(api_as, sam, zhang):
    today = timezone.localdate()
    late = FollowUp.objects.create(customer=zhang, title="逾期", due=today - datetime.timedelta(days=2), assignee=sam)
    FollowUp.objects.create(customer=zhang, title="下周", due=today + datetime.timedelta(days=7), assignee=sam)
    items = api_as(sam).get("/api/follow-ups", {"due_by": today.isoformat()}).json()["items"]
    assert [t["id"] for t in items] == [late.pk]
    assert items[0]["is_overdue"] is True


def test_a_follow_up_is_created_for_me_and_marked_done(api_as, sue, zhang):
    client = api_as(sue)
    response = client.post(f"/api/customers/{zhang.code}/follow-ups",
                           {"title": "寄送样品", "due": tomorrow().isoformat()}, content_type="application/json")
    assert response.status_code == 201, response.content
    task = FollowUp.objects.get(pk=response.json()["id"])
    assert task.assignee == sue and task.created_by == sue and task.customer == zhang
    listed = client.get(f"/api/customers/{zhang.code}/follow-ups").json()["items"]
    assert [t["id"] for t in listed] == [task.pk]
    done = client.post(f"/api/follow-ups/{task.pk}/done")
    assert done.status_code == 200
    task.refresh_from_db()
    assert task.done and task.done_at is not None


def test_a_sales_rep_cannot_close_tasks_of_others_customers(api_as, sam, li):
    task = FollowUp.objects.create(customer=li, title="回访", due=timezone.localdate())
    assert api_as(sam).post(f"/api/follow-ups/{task.pk}/done").status_code == 404
    task.refresh_from_db()
    assert not task.done


def test_a_viewer_may_not_close_tasks(api_as, victor, zhang):
    task = FollowUp.objects.create(customer=zhang, title="回访", due=timezone.localdate())
    assert api_as(victor).post(f"/api/follow-ups/{task.pk}/done").status_code == 403
    task.refresh_from_db()
    assert not task.done
