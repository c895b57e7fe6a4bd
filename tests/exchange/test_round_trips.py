"""Orders read back from a file: the order number is the key, and a time is compared as precisely as the file
gives it, so a sheet saved by a spreadsheet program (seconds cut) never duplicates what is stored."""

import datetime
from decimal import Decimal
from pathlib import Path

import pytest
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.exchange.importer import import_file, revert_batch
from kehu.sales.models import Order

pytestmark = pytest.mark.django_db

AT = datetime.datetime(2024, 3, 5, 13, 45, 12)


def order(customer, number: str = "", amount: str = "99.50", **fields) -> Order:
    return Order.objects.create(customer=customer, number=number, amount=Decimal(amount),
                                ordered_at=timezone.make_aware(AT), **fields)


def csv_file(tmp_path, text: str):
    path = tmp_path / "订单.csv"
    path.write_text(text, encoding="gbk")
    return path


def test_an_order_without_a_number_saved_without_seconds_is_the_stored_one(alice, zhang, tmp_path):
    order(zhang)
    path = csv_file(tmp_path, f"客户编号,消费日期,消费金额\r\n{zhang.code},2024/3/5 13:45,99.50\r\n")
    result = import_file(path, user=alice)
    assert result.counts["purchases"].unchanged == 1 and result.counts["purchases"].new == 0, result.problems
    assert Order.objects.count() == 1


def test_an_order_without_a_number_at_another_minute_is_another_order(alice, zhang, tmp_path):
    order(zhang)
    path = csv_file(tmp_path, f"客户编号,消费日期,消费金额\r\n{zhang.code},2024/3/5 13:47,99.50\r\n")
    assert import_file(path, user=alice).counts["purchases"].new == 1
    assert Order.objects.count() == 2


def test_an_order_with_its_number_is_updated_in_place_and_the_update_reverts(alice, zhang, tmp_path):
    stored = order(zhang, number="DD001", payment_method="alipay")
    path = csv_file(tmp_path, f"客户编号,消费日期,消费金额,订单号,订单状态\r\n"
                              f"{zhang.code},2024/3/5 13:45,\"1,099.50\",DD001,已退款\r\n")
    result = import_file(path, user=alice)
    assert (result.counts["purchases"].new, result.counts["purchases"].updated) == (0, 1), result.problems
    stored.refresh_from_db()
    assert (stored.amount, stored.status, stored.payment_method) == (Decimal("1099.50"), "refunded", "alipay")
    assert timezone.localtime(stored.ordered_at).replace(tzinfo=None) == AT  # 13:45 in the file, 13:45:12 kept

    revert_batch(result.batch, alice)
    stored.refresh_from_db()
    assert (stored.amount, stored.status) == (Decimal("99.50"), "completed")
    assert Order.objects.count() == 1


REAL = Path(__file__).resolve().parent.parent / "data" / "real" / "roundtrip"
SAVED_BY_LIBREOFFICE = [  # (file, its kind): LibreOffice 7.4's own CSV and ods of the two exports (see README.md)
    ("customers.ods", "customers"), ("customers-libreoffice-utf8.csv", "customers"),
    ("customers-libreoffice-gbk.csv", "customers"), ("customers-default-format-libreoffice-utf8.csv", "customers"),
    ("orders.ods", "purchases"), ("orders-libreoffice-utf8.csv", "purchases"),
    ("orders-minutes-libreoffice-utf8.csv", "purchases"), ("orders-minutes-libreoffice-gbk.csv", "purchases"),
    ("orders-default-format-libreoffice-utf8.csv", "purchases"),
]


def stored_rows() -> tuple[list, list]:
    customers = [(c.code, c.name, c.mobile, c.registered_at, c.birthday, c.grade, c.province, c.notes, c.version,
                  sorted(t.name for t in c.tags.all())) for c in Customer.objects.order_by("id")]
    orders = list(Order.objects.order_by("id").values_list(
        "customer__code", "number", "ordered_at", "amount", "status", "payment_method", "sales_channel", "note"))
    return customers, orders


def test_what_libreoffice_saved_from_the_exports_imports_again_unchanged(alice):
    assert import_file(REAL / "customers.xlsx", user=alice).counts["customers"].new == 6
    assert import_file(REAL / "orders.xlsx", user=alice).counts["purchases"].new == 55
    before = stored_rows()
    assert sum(1 for o in before[1] if not o[1]) == 11 and sum(1 for o in before[1] if o[4] == "refunded") == 4
    for name, kind in SAVED_BY_LIBREOFFICE:
        result = import_file(REAL / name, user=alice)
        c = result.counts[kind]
        assert (c.new, c.updated, c.unchanged, c.rejected) == (0, 0, len(before[0 if kind == "customers" else 1]),
                                                               0), (name, result.problems)
        assert not result.errors, name
    assert stored_rows() == before


def test_an_order_stored_without_a_number_gains_the_number_a_file_gives_it(alice, zhang, tmp_path):
    stored = order(zhang)
    path = csv_file(tmp_path, f"客户编号,消费日期,消费金额,订单号\r\n{zhang.code},2024/3/5 13:45,99.50,DD009\r\n")
    assert import_file(path, user=alice).counts["purchases"].updated == 1
    stored.refresh_from_db()
    assert stored.number == "DD009" and Order.objects.count() == 1
