import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.exchange.importer import import_file
from kehu.sales.models import Order

from .helpers import write_xlsx

pytestmark = pytest.mark.django_db

CUSTOMER_HEADER = ["会员号", "客户名称", "手机号码", "邮箱", "微信号", "入会时间", "性别", "地址", "标签"]
PURCHASE_HEADER = ["会员号", "下单时间", "实付金额(元)", "购买商品", "支付方式"]


def shop_workbook(tmp_path):
    return write_xlsx(tmp_path / "客户管理表格.xlsx", {
        "客户基本信息": [
            CUSTOMER_HEADER,
            ["VIP001", "王芳", 13911112222, "wangfang@example.com", "wf_88", "2024/1/5", "女", "深圳市南山区",
             "老客户、VIP"],
            ["VIP002", "刘强", "138 0013 8000", "", "", "2024年2月1日", "男", "", ""],
            ["VIP003", "陈静", "+86 137-0000-1111", "chen@", "", datetime.date(2023, 12, 31), "女", "", ""],
        ],
        "消费记录": [
            PURCHASE_HEADER,
            ["VIP001", "2024-03-01", "¥1,200.00", "连衣裙", "微信"],
            ["VIP001", "2024.3.15", "300元", "围巾、手套", "支付宝"],
            ["VIP002", 45400, 88, "咖啡", "现金"],
            ["VIP999", "2024-03-01", 50, "茶", "现金"],
        ],
    }, titles={"客户基本信息": "2024年会员信息表", "消费记录": "消费明细"})


def test_it_imports_customers_and_purchases_below_title_rows(tmp_path, alice):
    result = import_file(shop_workbook(tmp_path), user=alice)
    assert result.counts["customers"].new == 4  # VIP999 is known only from its purchase: created, with a warning
    assert result.counts["purchases"].new == 4
    assert result.counts["purchases"].rejected == 0
    wang = Customer.objects.get(code="VIP001")
    assert wang.mobile == "+8613911112222"
    assert timezone.localtime(wang.registered_at).date() == datetime.date(2024, 1, 5)
    assert sorted(t.name for t in wang.tags.all()) == ["VIP", "老客户"]
    assert Customer.objects.get(code="VIP002").mobile == "+8613800138000"
    chen = Customer.objects.get(code="VIP003")
    assert chen.email == ""
    warning = next(p for p in result.warnings if p.column == "邮箱")
    assert (warning.sheet, warning.row) == ("客户基本信息", 6)
    assert not result.errors
    new = next(p for p in result.warnings if p.sheet == "消费记录")
    assert (new.row, new.column, new.value) == (7, "会员号", "VIP999")
    assert "已新建客户“VIP999”（客户编号 VIP999）" in new.message
    assert Customer.objects.get(code="VIP999").orders.get().amount == Decimal("50.00")
    assert sorted(Order.objects.filter(customer=wang).values_list("amount", flat=True)) == [
        Decimal("300.00"), Decimal("1200.00")]
    scarf = Order.objects.get(customer=wang, amount=300)
    assert [(line.product_name, line.unit_price) for line in scarf.lines.order_by("id")] == [
        ("围巾", Decimal("150.00")), ("手套", Decimal("150.00"))]
    assert scarf.payment_method == "alipay"


def test_it_changes_nothing_when_the_same_file_is_imported_again(tmp_path, alice):
    path = shop_workbook(tmp_path)
    import_file(path, user=alice)
    again = import_file(path, user=alice)
    assert again.counts["customers"].new == 0
    assert again.counts["customers"].updated == 0
    assert again.counts["customers"].unchanged == 3
    assert again.counts["purchases"].new == 0
    assert again.counts["purchases"].unchanged == 4
    assert Order.objects.count() == 4
