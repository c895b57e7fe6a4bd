"""The shop's currency (系统设置 → 币种): one setting labels every amount — pages, the sentences saying why, the
tables' and the exports' headers, the cells of a workbook, the charts' axis names."""

import csv
import io
import json
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from kehu.accounts.models import AuditEntry, ShopSettings
from kehu.exchange.values import parse_amount
from kehu.lib import money
from kehu.segments import pipeline, reports
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer, make_order
from tests.web.helpers import client_for


def test_each_currency_formats_its_amounts():
    assert money.get("CNY").format(Decimal("1234.5")) == "¥1,234.50"
    assert money.get("HKD").format(1234.5) == "HK$1,234.50"
    assert money.get("MOP").format(2) == "MOP$2.00"
    assert money.get("TWD").format(10) == "NT$10.00"
    assert money.get("SGD").format(10) == "S$10.00"
    assert money.get("USD").format(-3.5) == "-US$3.50"
    assert money.get("EUR").format(5200, trim=True) == "€5,200"
    assert money.get("GBP").format(1800.5, trim=True) == "£1,800.50"
    assert money.get("JPY").format(Decimal("1234.5")) == "JP¥1,235"  # no decimals in yen
    assert money.get("JPY").number_format == '"JP¥"#,##0;-"JP¥"#,##0'
    assert money.get("HKD").number_format == '"HK$"#,##0.00;-"HK$"#,##0.00'
    assert money.get("cny").format(None) == "—"
    assert money.get("XXX").code == "CNY"  # an unknown code is the default


def test_headers_carry_the_unit_in_each_language():
    from django.utils import translation

    with money.using("HKD"):
        assert money.header("消费金额") == "消费金额（港元）"
        assert money.unit_label("未来12个月价值（元）") == "未来12个月价值（港元）"
        with translation.override("en"):
            assert money.header("Revenue") == "Revenue (HKD)"
            assert money.unit_label("12-month value (¥)") == "12-month value (HKD)"
    assert money.unit_label("单价（元）") == "单价（元）"


@pytest.mark.parametrize("text", ["HK$1,200.00", "1200港元", "US$1,200", "€1200", "£1,200", "JP¥1,200", "S$1200",
                                  "MOP$1,200", "NT$1,200", "1200 HKD", "¥1,200.00", "1200元"])
def test_an_import_reads_amounts_written_in_any_shop_currency(text):
    assert parse_amount(text) == Decimal("1200")


@pytest.mark.django_db
def test_only_an_admin_changes_the_currency_and_it_is_audited(alice, mary):
    url = reverse("shop:currency")
    assert client_for(mary).post(url, {"currency": "HKD"}).status_code == 403
    assert ShopSettings.currency_code() == "CNY"

    client = client_for(alice)
    page = client.get(url).content.decode()
    assert 'data-currency="JPY"' in page and "¥1,234.50" in page
    assert 'data-settings="currency"' in client.get("/settings/").content.decode()
    response = client.post(url, {"currency": "HKD"})
    assert response.status_code == 302
    assert ShopSettings.objects.get().currency == "HKD" and money.current().code == "HKD"
    assert "HK$1,234.50" in client.get(url).content.decode()
    entry = AuditEntry.objects.filter(target_label="币种").get()
    assert entry.details["changes"] == {"currency": ["CNY", "HKD"]}
    assert client.post(url, {"currency": "XYZ"}).status_code == 200  # not a choice: the form says so
    assert ShopSettings.objects.get().currency == "HKD"


@pytest.fixture
def hkd_shop(db, alice, sam):
    zhang = make_customer(name="张伟", owner=sam)
    for days in (5, 20, 40):
        make_order(zhang, "1000.00", days_ago=days)
    make_order(make_customer(name="李娜"), "50.00", days_ago=300)
    ShopSettings.store_currency("HKD", alice)
    pipeline.classify_all()
    return zhang


def test_every_page_amount_follows_the_currency(hkd_shop, alice):
    client = client_for(alice)
    customer_page = client.get(reverse("customers:detail", args=[hkd_shop.code])).content.decode()
    assert "HK$3,000.00" in customer_page and "¥3,000" not in customer_page
    assert 'data-currency-symbol="HK$"' in customer_page  # what the charts' script labels its axes with
    dashboard = client.get(reverse("segments:dashboard")).content.decode()
    assert "HK$3,050.00" in dashboard and "¥" not in dashboard.replace("JP¥", "")
    axis = json.dumps("消费金额（港元）")[1:-1]  # as json_script writes it
    assert axis in dashboard  # the monthly chart's axis name
    regions = client.get(reverse("segments:analysis", args=["regions"])).content.decode()
    assert axis in regions


def test_the_sentence_saying_why_uses_the_currency(hkd_shop):
    from kehu.segments.engine.classify import References
    from kehu.segments.engine.explain import explain_rfm

    segment = CustomerSegment.objects.get(customer=hkd_shop)
    assert "HK$" in segment.explanation and "¥" not in segment.explanation
    refs = References(method="mean", recency_days=10, frequency=2, monetary=1800.0, customers=2)
    row = {"recency_days": 5, "frequency": 3, "monetary": 3000, "r_high": True, "f_high": True, "m_high": True,
           "rfm_class": "重要价值客户"}
    with money.using("JPY"):
        assert "累计消费 JP¥3,000，高于平均的 JP¥1,800" in explain_rfm(row, refs)


def test_exports_carry_the_unit_in_headers_and_the_symbol_in_cells(hkd_shop, alice):
    client = client_for(alice)
    response = client.get(reverse("exchange:orders_export", args=["xlsx"]))
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    header = [c.value for c in sheet[1]]
    assert header[3] == "消费金额（港元）"
    assert sheet["D2"].value == 50 and sheet["D2"].number_format.startswith('"HK$"')

    response = client.get(reverse("exchange:orders_export", args=["csv"]))
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0][3] == "消费金额（港元）" and rows[1][3] == "50.00"  # the CSV keeps plain numbers

    response = client.get(reverse("segments:export", args=["dashboard", "lifecycle"]) + "?format=xlsx")
    values = list(load_workbook(io.BytesIO(b"".join(response.streaming_content))).active.values)
    assert values[0] == ("阶段", "客户数", "客户占比", "消费金额（港元）")

    response = client.get(reverse("segments:risk_export") + "?format=csv")
    header = next(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert "未来12个月价值（港元）" in header and "流失风险价值（港元）" in header


def test_the_report_workbook_labels_its_sums_and_chart(hkd_shop, alice):
    response = client_for(alice).get(reverse("exchange:report_export"))
    book = load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    summary = book["汇总"]
    texts = [c.value for row in summary.iter_rows() for c in row if isinstance(c.value, str)]
    assert "消费金额（港元）" in texts and "消费总额（港元）" in texts
    chart = summary._charts[0]
    axis = "".join(r.t for p in chart.y_axis.title.tx.rich.p for r in (p.r or []))
    assert axis == "金额（港元）"


def test_a_changed_currency_is_not_served_from_a_cached_report(hkd_shop, alice):
    client = client_for(alice)
    assert "HK$3,050.00" in client.get(reverse("segments:dashboard")).content.decode()
    ShopSettings.store_currency("EUR", alice)
    page = client.get(reverse("segments:dashboard")).content.decode()
    assert "€3,050.00" in page and "HK$" not in page
    assert reports.Report  # the key of a cached page holds the currency
