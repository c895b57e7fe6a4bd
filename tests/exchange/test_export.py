import datetime
import io

import pytest
from openpyxl import load_workbook

from kehu.customers.models import Customer
from kehu.exchange import exporters
from kehu.exchange.importer import import_file
from kehu.lib import money
from kehu.sales.models import Order
from tests.conftest import make_order

from .helpers import read_xlsx

pytestmark = pytest.mark.django_db


def xlsx_bytes(write, *args) -> bytes:
    buf = io.BytesIO()
    write(*args, buf)
    return buf.getvalue()


def test_it_exports_customers_with_chinese_headers_formats_and_a_frozen_filtered_header(alice, zhang, li):
    data = xlsx_bytes(exporters.export_customers_xlsx, Customer.objects.all(), alice)
    wb = load_workbook(io.BytesIO(data))
    ws = wb["客户信息"]
    assert [c.value for c in ws[1]][:6] == ["客户编号", "姓名", "客户类型", "性别", "生日", "手机"]
    assert ws.freeze_panes == "A2"
    assert ws.auto_filter.ref == "A1:X3"
    rows = {r[1]: r for r in ws.iter_rows(min_row=2, values_only=True)}
    assert rows["张伟"][5] == "138 1234 5678"
    assert rows["张伟"][6] == "zhangwei@example.com"
    assert rows["张伟"][18] == "孙明"
    assert isinstance(ws["M2"].value, datetime.datetime)
    assert ws["M2"].number_format == exporters.DATETIME


def test_it_masks_contact_details_for_victor(victor, zhang):
    rows = read_xlsx(xlsx_bytes(exporters.export_customers_xlsx, Customer.objects.all(), victor))["客户信息"]
    assert rows[1][5] == "138****5678"
    assert rows[1][6] == "z****@example.com"
    assert rows[1][7] == "z****"
    assert "13812345678" not in str(rows)


def test_it_exports_only_sams_own_customers_through_the_filter(sam, zhang, li):
    from kehu.customers.filters import CustomerFilter

    qs = CustomerFilter.from_params({}).apply(Customer.objects.visible_to(sam), sam)
    rows = read_xlsx(xlsx_bytes(exporters.export_customers_xlsx, qs, sam))["客户信息"]
    assert [r[1] for r in rows[1:]] == ["张伟"]


def test_it_writes_csv_with_a_bom_for_excel(alice, zhang, tmp_path):
    path = tmp_path / "客户.csv"
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        assert exporters.export_customers_csv(Customer.objects.all(), alice, f) == 1
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    assert "客户编号,姓名" in raw.decode("utf-8-sig")


def test_the_report_has_live_formulas_and_charts(alice, zhang, li):
    make_order(zhang, "1200.00", days_ago=40)
    make_order(li, "300.00", days_ago=5)
    Customer.objects.filter(pk=zhang.pk).update(grade="A")
    data = xlsx_bytes(exporters.export_report_xlsx, Customer.objects.all(), Order.objects.all(), alice)
    wb = load_workbook(io.BytesIO(data))
    summary = wb["汇总"]
    formulas = [c.value for row in summary.iter_rows() for c in row if isinstance(c.value, str)
                and c.value.startswith("=")]
    assert any(f.startswith("=SUMIFS(消费记录!$D:$D") for f in formulas)
    assert '=COUNTIFS(客户信息!$R:$R,"A")' in formulas
    assert any(f.startswith("=COUNTIFS(客户信息!$I:$I") for f in formulas)
    assert any(f.startswith("=COUNTIFS(客户信息!$V:$V,A") for f in formulas)
    assert len(summary._charts) == 2
    assert wb["消费记录"].max_row == 3


def test_export_then_import_round_trips_customers_and_orders(alice, zhang, li, tmp_path):
    make_order(zhang, "99.50", days_ago=3, payment_method="alipay")
    Customer.objects.filter(pk=li.pk).update(grade="B", notes="喜欢绿茶")
    customers_file = tmp_path / "客户.xlsx"
    orders_file = tmp_path / "订单.xlsx"
    exporters.export_customers_xlsx(Customer.objects.all(), alice, customers_file)
    exporters.export_orders_xlsx(Order.objects.all(), orders_file)
    before = {c.code: (c.name, c.mobile, c.email, c.wechat, c.grade, c.notes, c.province, c.owner_id)
              for c in Customer.objects.all()}

    again = import_file(customers_file, user=alice)
    assert again.counts["customers"].unchanged == 2, again.problems
    assert import_file(orders_file, user=alice).counts["purchases"].unchanged == 1

    Order.objects.all().delete()
    Customer.objects.all().delete()
    result = import_file(customers_file, user=alice)
    assert result.counts["customers"].new == 2
    assert not result.errors
    after = {c.code: (c.name, c.mobile, c.email, c.wechat, c.grade, c.notes, c.province, c.owner_id)
             for c in Customer.objects.all()}
    assert after == before
    orders = import_file(orders_file, user=alice)
    assert orders.counts["purchases"].new == 1
    order = Order.objects.get()
    assert (order.customer.code, order.amount, order.payment_method) == (zhang.code, 99.5, "alipay")


def test_the_blank_template_hints_at_what_the_import_accepts_and_refuses_nothing(tmp_path):
    path = tmp_path / "模板.xlsx"
    exporters.template_workbook("customers", path)
    ws = load_workbook(path)["客户信息"]
    rules = ws.data_validations.dataValidation
    assert rules and not any(dv.showErrorMessage for dv in rules)  # hints, never a refusal
    prompts = {str(dv.sqref): dv.prompt for dv in rules}
    assert "138 1234 5678" in prompts["E2:E1001"]
    assert ("list", '"男,女"') in {(dv.type, dv.formula1) for dv in rules}
    assert ws["B2"].value == "王芳"
    assert ws["A2"].number_format == ws["A1001"].number_format == "@"  # 客户编号 keeps its leading zeros
    assert ws["E500"].number_format == "@"
    assert ws.column_dimensions["F"].width >= len("wangfang@example.com")  # the example fits its column
    purchases = load_workbook(_template(tmp_path, "purchases"))["消费记录"]
    rules = purchases.data_validations.dataValidation
    assert not any(dv.showErrorMessage for dv in rules)
    assert '"现金,银行卡,微信支付,支付宝,对公转账,其他"' in {dv.formula1 for dv in rules}
    prompts = " ".join(dv.prompt for dv in rules)
    # the instructions' examples are all offered in the hints
    assert "1200元" in prompts and "¥1,200.00" in prompts and "2024年1月5日" in prompts
    header = [c.value for c in purchases[1]]
    assert purchases.cell(row=2, column=header.index("订单号") + 1).number_format == "@"
    # amounts in the shop's currency: yuan stay plain digits (the instructions say 元), others show their symbol
    assert purchases.cell(row=2, column=header.index("消费金额") + 1).number_format == "#,##0.00"
    with money.using("HKD"):
        exporters.template_workbook("purchases", tmp_path / "港元.xlsx")
    hkd = load_workbook(tmp_path / "港元.xlsx")["消费记录"]
    assert hkd.cell(row=2, column=header.index("消费金额") + 1).number_format == '"HK$"#,##0.00;-"HK$"#,##0.00'


def test_a_template_filled_the_way_its_instructions_say_imports_every_row(tmp_path, alice):
    import openpyxl

    path = _template(tmp_path, "purchases")
    book = openpyxl.load_workbook(path)
    ws = book["消费记录"]
    header = [c.value for c in ws[1]]
    rows = [("007", "2024年1月5日", "1200元", "微信转账", "00123"), ("008", "2024/1/5", "¥1,200.00", "现金", "00124")]
    for r, (code, day, amount, payment, number) in enumerate(rows, start=2):
        for column, value in (("客户编号", code), ("姓名", "顾客" + code), ("消费日期", day), ("消费金额", amount),
                              ("支付方式", payment), ("订单号", number), ("消费项目", "茶"), ("品类", "饮品"),
                              ("数量", 1), ("销售渠道", "门店")):
            ws.cell(row=r, column=header.index(column) + 1, value=value)
    book.save(path)
    result = import_file(path, user=alice)
    assert result.counts["purchases"].new == 2, result.problems
    orders = {o.customer.code: o for o in Order.objects.select_related("customer")}
    assert set(orders) == {"007", "008"}
    assert orders["007"].amount == orders["008"].amount == 1200
    assert orders["007"].payment_method == "wechat_pay"
    assert orders["007"].number == "00123"


def _template(tmp_path, kind):
    path = tmp_path / f"{kind}.xlsx"
    exporters.template_workbook(kind, path)
    return path


def test_a_blank_template_imports_its_example_row(tmp_path, alice):
    result = import_file(_template(tmp_path, "customers"), user=alice)
    assert result.counts["customers"].new == 1, result.problems
    assert Customer.objects.get(code="VIP0001").mobile == "+8613812345678"


def test_the_export_command_masks_for_a_named_user_and_filters_like_the_list(tmp_path, victor, zhang, li):
    from django.core.management import call_command

    out = tmp_path / "c.xlsx"
    call_command("export", "customers", "-o", str(out), "--user", "victor", "--filter", "province=广东省")
    rows = read_xlsx(out)["客户信息"]
    assert [(r[1], r[5]) for r in rows[1:]] == [("张伟", "138****5678")]
    call_command("export", "customers", "-o", str(out))
    assert {r[5] for r in read_xlsx(out)["客户信息"][1:]} == {"138 1234 5678", "139 8765 4321"}
