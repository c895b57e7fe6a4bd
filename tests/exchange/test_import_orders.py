"""Orders, not lines; platform profiles; a purchase row that also describes its customer (in-process, fast)."""

from decimal import Decimal

from kehu.customers.models import Customer
from kehu.exchange import headers as h
from kehu.exchange import profiles
from kehu.exchange.importer import import_file
from kehu.exchange.readers import read_workbook
from kehu.sales.models import Order

from ..conftest import make_customer
from .helpers import write_csv, write_xlsx


def test_it_recognises_every_platform_profile_by_its_own_headers_and_no_other():
    for profile in profiles.all_profiles():
        assert profile.source and profile.name
        headers = [f" {header} " for header in {*profile.signature, *profile.columns}]  # spaces, as exports write
        assert profiles.match(headers) is profile, profile.key
        assert set(profile.mapping(headers).values()) <= set(h.FIELDS[h.PURCHASES])


def test_it_groups_the_scattered_lines_of_an_order_and_nets_a_returned_line(tmp_path, alice):
    make_customer(code="K1", name="甲")
    path = write_csv(tmp_path / "lines.csv", [
        ["订单号", "客户编号", "日期", "商品", "数量", "单价"],
        ["A1", "K1", "2024-03-01 10:00", "红茶", "2", "30"],
        ["A2", "K1", "2024-03-05 11:00", "绿茶", "1", "20"],
        ["A1", "K1", "2024-03-01 10:00", "茶杯", "3", "10"],   # A1 again, two rows further down
        ["A1", "K1", "2024-03-01 10:00", "茶杯", "-1", "10"],  # one cup came back
        ["A3", "K1", "2024-03-09 09:00", "红茶", "-2", "30"],  # a return on its own: not a purchase
    ])
    result = import_file(path, user=alice)
    assert result.errors == []
    assert result.counts["purchases"].new == 3
    orders = {o.number: o for o in Order.objects.prefetch_related("lines")}
    assert (orders["A1"].amount, orders["A1"].status) == (Decimal("80.00"), "completed")
    assert sorted((x.product_name, x.quantity) for x in orders["A1"].lines.all()) == [
        ("红茶", Decimal("2")), ("茶杯", Decimal("2"))]
    assert (orders["A3"].amount, orders["A3"].status) == (Decimal("60.00"), "refunded")
    notes = " ".join(p.message for p in result.notes)
    assert "按订单号把 5 行归为 3 笔订单" in notes and "计入消费的 2 笔" in notes
    assert "1 笔订单含退货行或部分退款" in notes and "取消/退货单 1 张（合计 60.00）" in notes


def test_a_taobao_export_in_gb18030_keeps_guarded_numbers_and_never_stores_a_masked_phone(tmp_path, alice):
    path = tmp_path / "ExportOrderList.csv"
    rows = [["订单编号", "买家会员名", "买家实际支付金额", "订单状态", "收货人姓名", "联系手机", "订单创建时间",
             "订单付款时间 ", "宝贝标题 ", "退款金额"],
            ['="1234567890123456789"', "小鱼儿𠀀", "99.00", "交易成功", "张三", "'158****7475", "2024-05-01 10:00:00",
             "2024-05-01 10:01:00", "桂花乌龙", "0.00"],
            ['="1234567890123456790"', "小鱼儿𠀀", "50.00", "交易关闭", "张三", "13800138000", "2024-05-02 10:00:00",
             "", "红糖", "0.00"]]
    write_csv(path, rows, encoding="gb18030")  # 𠀀 is outside GBK
    sheet = read_workbook(path)[0]
    assert sheet.profile.key == "taobao"
    result = import_file(path, user=alice)
    customer = Customer.objects.get(code="小鱼儿𠀀")
    assert customer.name == "张三"
    assert customer.mobile == "+8613800138000"  # the unmasked phone of the second row, never 158****7475
    assert list(Order.objects.values_list("number", "amount", "status")) == [
        ("1234567890123456789", Decimal("99.00"), "completed")]
    assert any("1 笔订单未付款即关闭或取消" in p.message for p in result.notes)
    assert any("1 行的手机号已脱敏" in p.message for p in result.notes)


def test_a_customer_sheet_names_the_columns_it_does_not_import(tmp_path, alice):
    path = write_xlsx(tmp_path / "客户.xlsx", {"客户": [["姓名", "手机", "积分", "消费总额"],
                                                       ["李四", "13900001111", "120", "3000"]]})
    result = import_file(path, user=alice)
    assert result.counts["customers"].new == 1
    assert [p.message for p in result.notes] == ["以下 2 列未导入：积分、消费总额"]


def test_a_receipt_number_shared_by_two_customers_makes_two_orders(tmp_path, alice):
    make_customer(code="K1", name="甲")
    make_customer(code="K2", name="乙")
    path = write_csv(tmp_path / "小票.csv", [
        ["单号", "客户编号", "日期", "金额"],
        ["1", "K1", "2024-03-01", "30"],
        ["1", "K2", "2024-03-02", "45"],  # the shop numbers its receipts from 1 each day
        ["2", "K1", "2024-03-02", "12"],
    ])
    import_file(path, user=alice)
    assert sorted(Order.objects.values_list("customer__code", "number", "amount")) == [
        ("K1", "1", Decimal("30.00")), ("K1", "2", Decimal("12.00")), ("K2", "1", Decimal("45.00"))]
