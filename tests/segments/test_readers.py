"""Rows read through connectorx (outside a transaction, on a file or server database) are the rows read
through Django's cursor (inside one): same types, same instants, same cents."""

import datetime as dt
from decimal import Decimal

import pytest
from django.db import transaction

from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderLine, OrderStatus
from kehu.segments import pipeline
from tests.conftest import make_customer

BASE = dt.datetime(2024, 3, 1, 15, 59, 59, 999_999, tzinfo=dt.UTC)  # 23:59:59.999999 in Shanghai


def both_ways(read):
    outside = read()
    with transaction.atomic():
        inside = read()
    return outside, inside


@pytest.mark.django_db(transaction=True)
def test_both_readers_give_the_same_frames():
    shoes = Category.objects.create(name="鞋")
    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    for i, amount in enumerate(["0.01", "19.99", "1234.56", "100.50"]):
        order = Order.objects.create(customer=wang if i % 2 else li, amount=Decimal(amount),
                                     ordered_at=BASE + dt.timedelta(days=i * 7, microseconds=i))
        OrderLine.objects.create(order=order, product_name="跑鞋", category=shoes, quantity=Decimal("1.50"),
                                 unit_price=Decimal(amount))
    Order.objects.create(customer=wang, amount=Decimal("5"), ordered_at=BASE, status=OrderStatus.REFUNDED)
    pipeline.refresh(today(), full=True)

    readers = [
        pipeline.read_orders, pipeline.read_lines, pipeline.read_stored_metrics, pipeline._stored_metrics,
        pipeline._stored_spend, pipeline._stored_segments,
        lambda: pipeline._read_trend(BASE.date() + dt.timedelta(days=30), 1),
    ]
    for read in readers:
        outside, inside = both_ways(read)
        assert outside.schema == inside.schema, read
        assert outside.sort(outside.columns).equals(inside.sort(inside.columns)), read
    orders = pipeline.read_orders().sort("ordered_at")
    assert orders["ordered_at"][0] == BASE  # the same instant, shown in the shop's zone
    assert str(orders["ordered_at"].dtype.time_zone) == "Asia/Shanghai"
    # and a second full rebuild finds nothing to change
    assert pipeline._write_metrics(*pipeline.compute_stored(), None) == 0
