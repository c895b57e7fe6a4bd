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


def test_the_trend_read_from_the_store_matches_the_engine(db):
    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    as_of = dt.date(2024, 6, 30)
    # around the local midnights that bound the windows (16:00 UTC = 00:00 in Shanghai)
    for customer, day, second in ((wang, "2024-03-30", 0), (wang, "2024-03-30", -1), (li, "2024-03-31", 0),
                                  (wang, "2024-06-30", 0), (li, "2024-06-30", -1), (li, "2024-06-29", 5),
                                  (wang, "2024-04-15", 0), (li, "2024-01-01", 0)):
        moment = dt.datetime.fromisoformat(f"{day} 16:00:00+00:00") + dt.timedelta(seconds=second)
        Order.objects.create(customer=customer, amount=Decimal("10.00"), ordered_at=moment)
    from kehu.segments.engine import metrics as engine_metrics

    expected = engine_metrics.trend_spend(pipeline.read_orders(), as_of, 3).sort("customer_id")
    got = pipeline._read_trend(as_of, 3).sort("customer_id")
    assert got.select(expected.columns).equals(expected)
