"""Exports in the user's language, read back by the importer (issue 13, item 4).

What kehu writes in English mode — field labels as headers, the kinds' names as sheet names, the models' choice
labels in cells — comes from the same tables the importer recognises in every language, so an English export
imports back as a Chinese one does: nothing created, nothing changed.
"""

import datetime
import io
from decimal import Decimal

import pytest
from django.conf import settings
from django.utils import timezone, translation
from openpyxl import load_workbook

from kehu.customers.models import CompanySize, Customer, Gender, Kind, Tag
from kehu.engagement.models import CommunicationMethod, MarketingChannel
from kehu.exchange import exporters
from kehu.exchange import headers as h
from kehu.exchange import values as v
from kehu.exchange.importer import import_file
from kehu.sales.models import Category, Order, OrderLine, OrderStatus, PaymentMethod, SalesChannel

from .helpers import write_xlsx

pytestmark = pytest.mark.django_db
LANGUAGES = [code for code, _name in settings.LANGUAGES]
PARSERS = [(Gender, v.parse_gender), (Kind, v.parse_customer_kind), (CompanySize, v.parse_company_size),
           (PaymentMethod, v.parse_payment_method), (SalesChannel, v.parse_sales_channel),
           (OrderStatus, v.parse_order_status), (MarketingChannel, v.parse_marketing_channel),
           (CommunicationMethod, v.parse_communication_method)]


# ── one table: what the exporter writes is what the importer reads, in every language ─────────────────────────

@pytest.mark.parametrize("language", LANGUAGES)
def test_every_header_sheet_name_and_choice_kehu_writes_reads_back_as_what_it_stands_for(language):
    with translation.override(language):
        for kind, columns in ((h.CUSTOMERS, exporters.CUSTOMER_COLUMNS), (h.PURCHASES, exporters.order_columns())):
            for column in columns:
                assert h.field_for(str(column.header), kind) == column.field, (language, str(column.header))
            assert h.guess_kind(exporters.sheet_name(kind), [str(c.header) for c in columns]) == kind
        for kind, spec in exporters.TEMPLATES.items():
            labels = [translation.gettext(h.LABELS[field]) for field, _example, _validation in spec]
            for field, label in zip([f for f, _e, _v in spec], labels, strict=True):
                assert h.field_for(label, kind) == field, (language, field)
            assert h.guess_kind(exporters.sheet_name(kind), labels) == kind
        for choices, parse in PARSERS:
            for code, label in choices.choices:
                assert parse(str(label)) == code, (language, str(label))
        assert v.parse_bool(translation.gettext(v.YES)) is True
        assert v.parse_bool(translation.gettext(v.NO)) is False


def test_english_mode_writes_english_headers_sheet_names_and_choices():
    with translation.override("en"):
        headers = [str(c.header) for c in exporters.CUSTOMER_COLUMNS]
        assert headers[:4] == ["Customer code", "Name", "Customer type", "Gender"]
        assert exporters.sheet_name(h.CUSTOMERS) == "Customers"
        assert str(CompanySize.ENTERPRISE.label) == "1,000 people or more"
        for kind in h.KIND_ORDER:  # the English sheet names alone say what a sheet holds
            assert h.guess_kind(exporters.sheet_name(kind), []) == kind
    assert [str(c.header) for c in exporters.CUSTOMER_COLUMNS][:4] == ["客户编号", "姓名", "客户类型", "性别"]


def test_an_unknown_or_ambiguous_english_header_still_gets_the_clear_message(tmp_path, alice):
    path = write_xlsx(tmp_path / "en.xlsx", {"Customers": [
        ["Customer code", "Name", "Favourite colour", "Notes", "Notes"], ["C-1", "Ann Lee", "blue", "a", "b"]]})
    result = import_file(path, user=alice)
    assert result.counts["customers"].new == 1, result.problems
    assert [p.message for p in result.problems if p.level == "info"] == ["以下 2 列未导入：Favourite colour、Notes"]
    assert Customer.objects.get(code="C-1").notes == "a"  # the first of two columns meaning the same field wins


# ── round trips ────────────────────────────────────────────────────────────────────────────────────────────

@pytest.fixture
def shop(alice, sam):
    """Customers with every choice field set and orders with every payment, channel and status."""
    vip, regular = Tag.objects.create(name="VIP"), Tag.objects.create(name="Tea lover")  # a space inside a tag
    dresses = Category.objects.create(name="Dresses")
    at = timezone.make_aware(datetime.datetime(2024, 3, 5, 13, 45, 12))
    people = []
    for i, (gender, kind, size) in enumerate([("female", "person", ""), ("male", "company", "1000+"),
                                              ("", "company", "10-49")]):
        c = Customer.objects.create(
            code=f"EN{i:03d}", name=f"Customer {i}", kind=kind, gender=gender, company_size=size,
            company="Acme" if kind == "company" else "", mobile=f"+86139000000{i:02d}", email=f"c{i}@example.com",
            province="广东省", city="深圳市", grade="AB"[i % 2], owner=sam if i else None, source="Fair",
            birthday=datetime.date(1990, 1, i + 1), registered_at=at - datetime.timedelta(days=i),
            notes="Likes tea")
        c.tags.set([vip, regular] if i == 0 else [vip])
        people.append(c)
    methods, channels = list(PaymentMethod.values), list(SalesChannel.values)
    for n in range(6):
        order = Order.objects.create(
            customer=people[n % 3], number=f"DD{n:04d}", amount=Decimal("1200.50") + n,
            ordered_at=at - datetime.timedelta(days=n, seconds=n), payment_method=methods[n],
            sales_channel=channels[n], status=OrderStatus.REFUNDED if n == 5 else OrderStatus.COMPLETED,
            note="Gift" if n == 2 else "")
        OrderLine.objects.create(order=order, product_name="Silk dress", category=dresses, unit_price=order.amount)
    return people


def stored() -> tuple[dict, list]:
    """Each customer's fields (tags included) and each order's, as the database holds them."""
    skip = {"id", "updated_at", "search_vector"}
    customers = {c.code: ({f.attname: getattr(c, f.attname) for f in Customer._meta.concrete_fields
                           if f.attname not in skip}, sorted(t.name for t in c.tags.all()))
                 for c in Customer.objects.prefetch_related("tags")}
    orders = list(Order.objects.order_by("id").values_list(
        "customer__code", "number", "ordered_at", "amount", "status", "payment_method", "sales_channel", "note"))
    return customers, orders


def english(write, *args, suffix: str = "xlsx"):
    with translation.override("en"):
        if suffix == "csv":
            buf = io.StringIO()
            write(*args, buf)
            return buf.getvalue().encode("utf-8-sig")
        buf = io.BytesIO()
        write(*args, buf)
        return buf.getvalue()


def test_an_english_export_imports_back_changing_nothing(shop, alice, tmp_path):
    before = stored()
    everyone, orders = Customer.objects.all(), Order.objects.all()
    files = {"report.xlsx": english(exporters.export_report_xlsx, everyone, orders, alice),
             "customers.csv": english(exporters.export_customers_csv, everyone, alice, suffix="csv"),
             "orders.csv": english(exporters.export_orders_csv, orders, suffix="csv")}
    book = load_workbook(io.BytesIO(files["report.xlsx"]))
    assert book.sheetnames == ["Summary", "Customers", "Orders"]
    rows = {r[0]: r for r in book["Customers"].iter_rows(min_row=2, values_only=True)}
    assert rows["EN001"][2:4] == ("Company", "Male") and rows["EN001"][16] == "1,000 people or more"
    assert rows["EN000"][19] in ("VIP, Tea lover", "Tea lover, VIP")
    order_rows = list(book["Orders"].iter_rows(values_only=True))
    assert order_rows[0][3] == "Revenue (CNY)" and order_rows[0][6] == "Payment"
    assert {r[9] for r in order_rows[1:]} == {"Done", "Refunded"}
    with translation.override("en"):
        assert {r[6] for r in order_rows[1:]} == {str(label) for label in PaymentMethod.labels}

    for name, data in files.items():
        path = tmp_path / name
        path.write_bytes(data)
        result = import_file(path, user=alice)
        assert not [p for p in result.problems if p.level == "error"], (name, result.problems)
        for kind in ("customers", "purchases"):
            if kind in result.counts:
                c = result.counts[kind]
                assert (c.new, c.updated, c.rejected) == (0, 0, 0), (name, kind, c)
        assert result.counts.keys() >= ({"customers"} if "customers" in name else {"purchases"}
                                        if "orders" in name else {"customers", "purchases"})
        assert stored() == before, name  # per customer, field by field, and every order


def test_a_mixed_file_english_headers_with_chinese_choices_and_the_other_way_round_imports(alice, tmp_path):
    path = write_xlsx(tmp_path / "mixed.xlsx", {
        "Customers": [["Customer code", "Name", "Customer type", "Gender", "Company size", "Street address"],
                      ["M-1", "Mei", "企业", "女", "1000人以上", "1 Road"],
                      ["M-2", "Max", "Person", "Male", "1–9 people", ""]],
        "消费记录": [["客户编号", "消费日期", "消费金额（元）", "支付方式", "销售渠道", "订单状态", "订单号"],
                 ["M-1", "2024-05-01 10:00:00", 99, "WeChat Pay", "Marketplace", "Refunded", "X1"],
                 ["M-2", "2024-05-02 10:00:00", 88, "现金", "门店", "已完成", "X2"]],
        "Preferences": [["Customer code", "Preferred channel", "Consent"], ["M-1", "微信/公众号", "No"],
                        ["M-2", "SMS", "是"]],
    })
    result = import_file(path, user=alice)
    assert not [p for p in result.problems if p.level == "error"], result.problems
    mei, max_ = Customer.objects.get(code="M-1"), Customer.objects.get(code="M-2")
    assert (mei.kind, mei.gender, mei.company_size, mei.address) == ("company", "female", "1000+", "1 Road")
    assert (max_.kind, max_.gender, max_.company_size) == ("person", "male", "1-9")
    assert list(Order.objects.order_by("number").values_list("payment_method", "sales_channel", "status")) == [
        ("wechat_pay", "platform", "refunded"), ("cash", "store", "completed")]
    assert (mei.preference.preferred_channel, max_.preference.preferred_channel) == ("wechat", "sms")
    assert mei.consents.latest("id").granted is False and max_.consents.latest("id").granted is True


def test_an_english_template_filled_in_from_its_drop_downs_imports(alice, tmp_path):
    buf = io.BytesIO(english(exporters.template_workbook, h.CUSTOMERS))
    book = load_workbook(buf)
    ws = book["Customers"]
    assert book.sheetnames == ["Customers", "Instructions"]
    header = [c.value for c in ws[1]]
    assert header[:4] == ["Customer code", "Name", "Gender", "Birthday"]
    lists = {str(dv.sqref)[0]: dv.formula1 for dv in ws.data_validations.dataValidation if dv.type == "list"}
    size_column = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"[header.index("Company size")]
    assert lists[size_column] == '"1–9 people,10–49 people,50–199 people,200–999 people,1000 people or more"'
    ws.cell(row=2, column=header.index("Company size") + 1, value="1000 people or more")
    path = tmp_path / "template.xlsx"
    book.save(path)
    result = import_file(path, user=alice)
    assert result.counts["customers"].new == 1, result.problems
    c = Customer.objects.get(code="VIP0001")
    assert (c.name, c.gender, c.company_size, c.province, c.city) == ("Wang Fang", "female", "1000+", "广东省",
                                                                      "Shenzhen")
    assert sorted(t.name for t in c.tags.all()) == ["Regular", "VIP"]


def test_a_space_separates_new_tags_but_not_a_tag_the_store_has(alice, tmp_path):
    Tag.objects.create(name="Tea lover")
    path = write_xlsx(tmp_path / "tags.xlsx", {"Customers": [["Customer code", "Name", "Tags"],
                                                              ["T-1", "Tom", "Tea lover, big spender"],
                                                              ["T-2", "Tim", "老客户 VIP"]]})
    assert import_file(path, user=alice).counts["customers"].new == 2
    assert sorted(t.name for t in Customer.objects.get(code="T-1").tags.all()) == ["Tea lover", "big", "spender"]
    assert sorted(t.name for t in Customer.objects.get(code="T-2").tags.all()) == ["VIP", "老客户"]
