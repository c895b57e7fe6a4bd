"""Marking an order refunded (or completed again) from the customer page: the figures, the class row and the audit
follow; nobody changes an order they may not edit, or one of another customer through a forged address."""

import re
from decimal import Decimal

import pytest

from kehu.accounts.models import AuditAction, AuditEntry
from kehu.sales.models import Order, OrderStatus
from kehu.segments import pipeline
from kehu.segments.models import CustomerSegment
from tests.conftest import make_order
from tests.web.helpers import client_for, htmx

pytestmark = pytest.mark.django_db


def figure(html: str, name: str) -> str:
    return re.search(rf'data-figure="{name}">([^<]*)<', html).group(1).strip()


def status_url(customer, order) -> str:
    return f"/orders/status/{customer.code}/{order.pk}/"


def test_a_refund_leaves_the_figures_and_the_class_and_a_restore_brings_it_back(alice, zhang):
    make_order(zhang, "100.00", days_ago=40)
    big = make_order(zhang, "300.00", days_ago=2)
    pipeline.classify_all()
    c = client_for(alice)
    assert CustomerSegment.objects.get(customer=zhang).frequency == 2

    answer = c.post(status_url(zhang, big), {"status": "refunded"}, **htmx())
    assert answer.status_code == 200
    html = answer.content.decode()
    # the orders, and out of band the key figures, the class panel and the suggestions
    assert figure(html, "total") == "¥100.00" and figure(html, "orders") == "1"
    assert html.count('hx-swap-oob="true"') >= 3 and 'id="segments"' in html
    big.refresh_from_db()
    assert big.status == OrderStatus.REFUNDED
    row = CustomerSegment.objects.get(customer=zhang)
    assert (row.frequency, row.monetary) == (1, Decimal("100.00"))
    entry = AuditEntry.objects.get(action=AuditAction.UPDATE, target_type="order")
    assert entry.target_code == zhang.code and entry.details["changes"] == {"status": ["completed", "refunded"]}
    assert "恢复为已完成" in html

    answer = c.post(status_url(zhang, big), {"status": "completed"}, **htmx())
    assert figure(answer.content.decode(), "total") == "¥400.00"
    row = CustomerSegment.objects.get(customer=zhang)
    assert (row.frequency, row.monetary) == (2, Decimal("400.00"))


def test_the_same_press_twice_changes_nothing_the_second_time(alice, zhang):
    order = make_order(zhang, "80.00", days_ago=3)
    c = client_for(alice)
    for _ in range(2):
        assert c.post(status_url(zhang, order), {"status": "refunded"}, **htmx()).status_code == 200
    assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
    assert AuditEntry.objects.filter(action=AuditAction.UPDATE, target_type="order").count() == 1


def test_without_htmx_it_goes_back_to_the_orders_of_the_customer_page(alice, zhang):
    order = make_order(zhang, "80.00", days_ago=3)
    answer = client_for(alice).post(status_url(zhang, order), {"status": "refunded"})
    assert answer.status_code == 302 and answer.url == f"/customers/{zhang.code}/#orders"


def test_an_unknown_status_is_refused_with_a_message(alice, zhang):
    order = make_order(zhang, "80.00", days_ago=3)
    answer = client_for(alice).post(status_url(zhang, order), {"status": "lost"})
    assert answer.status_code == 400 and "未知的订单状态：lost" in answer.content.decode()
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED


def test_a_viewer_sees_no_button_and_cannot_post(victor, zhang):
    order = make_order(zhang, "80.00", days_ago=3)
    c = client_for(victor)
    page = c.get(f"/customers/{zhang.code}/").content.decode()
    assert "¥80.00" in page and "data-order-action" not in page
    assert c.post(status_url(zhang, order), {"status": "refunded"}).status_code == 403
    assert Order.objects.get(pk=order.pk).status == OrderStatus.COMPLETED


def test_a_sales_rep_cannot_refund_an_order_of_a_customer_not_theirs(sam, zhang, li):
    theirs, not_theirs = make_order(zhang, "80.00", days_ago=3), make_order(li, "90.00", days_ago=3)
    c = client_for(sam)
    assert c.post(status_url(li, not_theirs), {"status": "refunded"}).status_code == 404
    # their own customer's address with another customer's order: not found either
    assert c.post(status_url(zhang, not_theirs), {"status": "refunded"}).status_code == 404
    assert Order.objects.get(pk=not_theirs.pk).status == OrderStatus.COMPLETED
    assert c.post(status_url(zhang, theirs), {"status": "refunded"}, **htmx()).status_code == 200
    assert Order.objects.get(pk=theirs.pk).status == OrderStatus.REFUNDED


def test_it_answers_only_a_post(alice, zhang):
    order = make_order(zhang, "80.00", days_ago=3)
    assert client_for(alice).get(status_url(zhang, order)).status_code == 405


@pytest.mark.django_db(transaction=True)   # two connections, each committing for real
def test_two_people_refunding_at_once_take_the_spend_away_once(alice, mary, zhang, monkeypatch):
    """The first refund is written and not yet committed when the second one starts: the second waits for the
    order's row, then finds it refunded and changes nothing."""
    import threading

    from django.db import connection, connections

    from kehu.accounts import audit
    from kehu.sales.forms import set_status
    from kehu.segments.models import CustomerMetrics

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's row lock; SQLite's IMMEDIATE transactions let one writer in at a time")
    make_order(zhang, "100.00", days_ago=20)
    order = make_order(zhang, "300.00", days_ago=2)
    first_written, let_it_commit = threading.Event(), threading.Event()
    record = audit.record

    def held(user, *args, **kwargs):   # the first refund waits here, inside its transaction, after its UPDATE
        entry = record(user, *args, **kwargs)
        if user == alice:
            first_written.set()
            let_it_commit.wait(10)
        return entry

    monkeypatch.setattr(audit, "record", held)
    changed = {}

    def refund(user):
        try:
            changed[user.username] = set_status(Order.objects.get(pk=order.pk), OrderStatus.REFUNDED, user)
        finally:
            connections.close_all()

    first = threading.Thread(target=refund, args=(alice,))
    first.start()
    assert first_written.wait(10)
    second = threading.Thread(target=refund, args=(mary,))
    second.start()
    second.join(0.5)
    assert second.is_alive()   # waiting for the order's row
    let_it_commit.set()
    first.join(10)
    second.join(10)
    assert changed == {"alice": True, "mary": False}
    metrics = CustomerMetrics.objects.get(customer=zhang)
    assert (metrics.frequency, metrics.monetary) == (1, Decimal("100.00"))
    assert AuditEntry.objects.filter(action=AuditAction.UPDATE, target_type="order").count() == 1
