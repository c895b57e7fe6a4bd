"""The read path: rows come through Django's own connection (Python's sqlite3 on SQLite, COPY on PostgreSQL) with
the types of the schema, the exact instant of every timestamp and the exact cents of every amount."""

import datetime as dt
import sys
from decimal import Decimal

import polars as pl
import pytest
from django.db import connection, transaction

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderLine, OrderStatus
from kehu.segments import pipeline
from tests.conftest import make_customer

BASE = dt.datetime(2024, 3, 1, 15, 59, 59, 999_999, tzinfo=dt.UTC)  # 23:59:59.999999 in Shanghai
# SQLite's date functions round to the millisecond: these fractions sit on either side of that rounding.
MICROSECONDS = (0, 1, 499_999, 500_000, 998_999, 999_000, 999_499, 999_500, 999_501, 999_999)


def test_every_instant_is_read_to_the_microsecond(db):
    customer = make_customer(name="王芳")
    moments = [dt.datetime(year, month, 1, 0, 0, second, micro, tzinfo=dt.UTC) + dt.timedelta(days=day)
               for year, month in ((1999, 12), (2024, 2), (2038, 1)) for day in (0, 28)
               for second in (0, 7, 59) for micro in MICROSECONDS]
    Order.objects.bulk_create([Order(customer=customer, amount=Decimal("1.00"), ordered_at=m) for m in moments])
    read = pipeline.read_orders().sort("ordered_at")["ordered_at"].dt.convert_time_zone("UTC").to_list()
    assert read == sorted(moments)


def test_amounts_are_exact_cents_and_refunds_are_left_out(db):
    customer = make_customer(name="王芳")
    amounts = ["0.01", "0.10", "19.99", "1234.56", "100.50", "99999999.99", "-12.05", "7"]
    for amount in amounts:
        Order.objects.create(customer=customer, amount=Decimal(amount), ordered_at=BASE)
    Order.objects.create(customer=customer, amount=Decimal("5"), ordered_at=BASE, status=OrderStatus.REFUNDED)
    cents = sorted(pipeline.read_orders()["amount_cents"].to_list())
    assert cents == sorted(int(Decimal(a) * 100) for a in amounts)


def test_text_nulls_and_odd_characters_survive_the_read(db):
    names = ["", "逗号,引号\"和换行\n都在", "\\N", "普通"]
    ids = [make_customer(name=name, company=name or "").pk for name in names]
    Customer.objects.filter(pk=ids[0]).update(owner=None)
    frame = pipeline._fetch(f"SELECT id, name, owner_id FROM {Customer._meta.db_table} WHERE id >= %s",
                            [ids[0]], {"id": pl.Int64, "name": pl.String, "owner": pl.Int64}).sort("id")
    assert frame["name"].to_list() == names
    assert frame["owner"].to_list() == [None] * 4
    assert frame.schema == pl.Schema({"id": pl.Int64, "name": pl.String, "owner": pl.Int64})


def test_types_come_from_the_schema_even_when_the_first_rows_are_null(db):
    first = make_customer(name="从未购买")
    make_customer(name="王芳")
    empty = pipeline._fetch(f"SELECT id, registered_at FROM {Customer._meta.db_table} WHERE id < %s", [0],
                            {"a": pl.Int64, "moment": pl.Datetime})
    assert empty.schema == pl.Schema({"a": pl.Int64, "moment": pl.Datetime("us", "UTC")})
    sql = ("SELECT id, CASE WHEN name = '从未购买' THEN NULL ELSE registered_at END,"
           f" CASE WHEN id = %s THEN NULL ELSE 1.5 END FROM {Customer._meta.db_table} ORDER BY id")
    frame = pipeline._fetch(sql, [first.pk], {"id": pl.Int64, "moment": pl.Datetime, "x": pl.Float64})
    assert frame["moment"].null_count() == 1 and frame["x"].to_list() == [None, 1.5]


@pytest.mark.django_db(transaction=True)
def test_a_read_inside_a_transaction_sees_its_rows_and_no_other_sqlite_library_is_loaded():
    # another test of this worker may have loaded one (the engine's backend tests): what the read loads is checked
    # here, a live server's process in tests/production/test_store_survives.py
    loaded_before = set(sys.modules)
    shoes = Category.objects.create(name="鞋")
    wang = make_customer(name="王芳")
    with transaction.atomic():
        order = Order.objects.create(customer=wang, amount=Decimal("19.99"), ordered_at=BASE)
        OrderLine.objects.create(order=order, product_name="跑鞋", category=shoes, quantity=Decimal("2"),
                                 unit_price=Decimal("19.99"))
        assert pipeline.read_orders()["amount_cents"].to_list() == [1999]
        assert pipeline.read_lines()["amount_cents"].to_list() == [3998]  # 2 × 19.99
    pipeline.refresh(today(), full=True)
    assert pipeline._write_metrics(*pipeline.compute_stored(), None) == 0  # a second rebuild changes nothing
    assert not {"connectorx", "adbc_driver_sqlite", "duckdb"} & (set(sys.modules) - loaded_before)
    if connection.vendor == "sqlite":
        assert connection.connection.__class__.__module__ == "sqlite3"


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
