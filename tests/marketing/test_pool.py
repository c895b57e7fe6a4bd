"""The customer pool (公海): stale customers return to it, history kept, sales reps claim them."""

import datetime

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.engagement.models import Communication, FollowUp
from kehu.marketing import pool
from kehu.marketing.models import OwnershipChange
from tests.conftest import make_customer, make_user

NOW = timezone.now()


def aged(customer, days):
    Customer.objects.filter(pk=customer.pk).update(created_at=NOW - datetime.timedelta(days=days))


@pytest.fixture
def book(db, sam, mary):
    names = ("久未联系", "刚沟通", "刚完成跟进", "新客户", "别人沟通")
    c = {name: make_customer(name=name, owner=sam) for name in names}
    for customer in c.values():
        aged(customer, 100)
    aged(c["新客户"], 5)
    Communication.objects.create(customer=c["刚沟通"], method="phone", content="拜访", author=sam,
                                 occurred_at=NOW - datetime.timedelta(days=3))
    Communication.objects.create(customer=c["别人沟通"], method="phone", content="拜访", author=mary,
                                 occurred_at=NOW - datetime.timedelta(days=3))
    FollowUp.objects.create(customer=c["刚完成跟进"], title="回访", due=NOW.date(), assignee=sam, done=True,
                            done_at=NOW - datetime.timedelta(days=1))
    return c


def test_only_customers_the_owner_left_alone_return_to_the_pool(book, sam):
    assert pool.return_stale(30) == 2
    assert set(pool.pool().values_list("name", flat=True)) == {"久未联系", "别人沟通"}
    change = OwnershipChange.objects.get(customer=book["久未联系"])
    assert (change.kind, change.from_user, change.reason) == ("returned", sam, "超过 30 天未跟进")
    assert pool.return_stale(30) == 0  # idempotent


def test_a_sales_rep_claims_a_pool_customer(client, book, db):
    pool.return_stale(30)
    rep = make_user("tom", "sales")
    client.force_login(rep)
    page = client.get(reverse("marketing:pool")).content.decode()
    assert "久未联系" in page and "data-claim" in page
    customer = book["久未联系"]
    response = client.post(reverse("marketing:pool_claim", args=[customer.code]))
    customer.refresh_from_db()
    assert response.status_code == 302 and customer.owner == rep
    assert list(customer.ownership_changes.order_by("id").values_list("kind", flat=True)) == ["returned", "claimed"]
    # a claimed customer is not stale again at once: claiming counts as the owner's latest action
    assert pool.return_stale(30) == 0


def test_a_customer_cannot_be_claimed_twice(book, sam):
    pool.return_stale(30)
    one, two = make_user("tom", "sales"), make_user("jim", "sales")
    customer = book["久未联系"]
    assert pool.claim(customer, one) is True
    assert pool.claim(customer, two) is False
    customer.refresh_from_db()
    assert customer.owner == one


def test_only_sales_reps_claim(client, book, mary):
    pool.return_stale(30)
    client.force_login(mary)
    assert "data-claim" not in client.get(reverse("marketing:pool")).content.decode()
    assert client.post(reverse("marketing:pool_claim", args=[book["久未联系"].code])).status_code == 403


def test_the_command_returns_stale_customers(book, capsys):
    call_command("pool", "--days", "30", "--dry-run")
    assert "将退回公海：2 位客户" in capsys.readouterr().out
    call_command("pool", "--days", "30")
    assert "已退回公海：2 位客户" in capsys.readouterr().out
    assert pool.pool().count() == 2
