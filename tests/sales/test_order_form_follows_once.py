"""An order with lines saved from the customer page is one transaction: its customer's classes follow once, inside
it just before the commit, however many lines it has (issue 9, items 3 and 8: the per-order cost of the upkeep)."""

from decimal import Decimal

import pytest
from django.db import connection

from kehu.sales.models import Category, Order, Product
from kehu.segments import upkeep
from tests.web.helpers import client_for, htmx

from .test_views import order_data


@pytest.mark.django_db(transaction=True)   # autocommit, as a server runs: every commit is a real one
def test_an_order_with_three_lines_is_classified_once(alice, zhang, monkeypatch):
    asked = []
    monkeypatch.setattr(upkeep, "reclassify",
                        lambda ids, **kw: asked.append((list(ids), connection.in_atomic_block)) or 0)
    tea, ware = Category.objects.create(name="茶叶"), Category.objects.create(name="茶具")
    longjing = Product.objects.create(name="龙井", category=tea, price=Decimal("120"))
    cup = Product.objects.create(name="茶杯", category=ware, price=Decimal("30"))
    data = order_data(**{
        "lines-0-product": longjing.pk, "lines-0-quantity": "2",
        "lines-1-product": cup.pk, "lines-1-quantity": "4",
        "lines-2-product_name": "普洱", "lines-2-unit_price": "80.5",
    })
    answer = client_for(alice).post(f"/orders/add/{zhang.code}/", data, **htmx())
    assert answer.status_code == 200
    order = Order.objects.get(customer=zhang)
    assert (order.amount, order.lines.count()) == (Decimal("440.50"), 3)
    assert asked == [([zhang.pk], True)]   # in the order's own transaction
