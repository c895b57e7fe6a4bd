"""The risk list (流失风险名单): order, filters, sorting by each figure, role scoping, the suggested action,
and the export holding the page's rows. The stored figures are written here directly, so every expectation
is computed from the test's own table, not by the code under test."""

import csv
import datetime as dt
import io
import re
from decimal import Decimal

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from kehu.customers.models import Customer
from kehu.marketing.models import Playbook
from kehu.segments.models import CustomerSegment
from tests.api.conftest import token_client
from tests.conftest import make_customer

# code, owner, province, class, P(alive), expected 90 d, CLV, value at risk
TABLE = [
    ("R001", "sam", "广东省", "重要挽留客户", 0.10, 0.05, "900.00", "810.00"),
    ("R002", None, "浙江省", "重要价值客户", 0.90, 2.50, "5000.00", "500.00"),
    ("R003", "sam", "浙江省", "一般挽留客户", 0.40, 0.30, "1500.00", "900.00"),
    ("R004", "mary", "广东省", "重要挽留客户", 0.70, 1.20, "2000.00", "600.00"),
    ("R005", None, "广东省", "一般发展客户", 0.95, 0.80, "100.00", "5.00"),
    ("R006", "sam", "江苏省", "重要保持客户", 0.55, 0.90, "400.00", "180.00"),
]
ROW = re.compile(r'<tr data-code="(?P<code>[^"]+)">.*?data-churn="(?P<churn>[^"]+)"'
                 r'.*?data-expected="(?P<expected>[^"]+)".*?data-clv="(?P<clv>[^"]+)".*?data-value-at-risk="(?P<var>[^"]+)".*?<td>(?P<action>[^<]*)</td>\s*</tr>',
                 re.S)


@pytest.fixture
def risk_shop(db, sam, mary):
    users = {"sam": sam, "mary": mary, None: None}
    for code, owner, province, rfm_class, p_alive, expected, clv, var in TABLE:
        customer = make_customer(code=code, name=f"客户{code}", owner=users[owner], province=province)
        CustomerSegment.objects.create(
            customer=customer, changed_on=dt.date(2026, 11, 30), rfm_class=rfm_class, lifecycle="沉睡客户",
            p_alive=p_alive, expected_purchases_90d=expected, clv=Decimal(clv), value_at_risk=Decimal(var))
    never = make_customer(code="R999", name="未购客户", owner=sam)
    CustomerSegment.objects.create(customer=never, changed_on=dt.date(2026, 11, 30), lifecycle="潜在客户")
    return users


def page_rows(client, **params) -> list[dict]:
    response = client.get(reverse("segments:risk"), params)
    assert response.status_code == 200
    return [m.groupdict() for m in ROW.finditer(response.content.decode())]


def codes(client, **params) -> list[str]:
    return [row["code"] for row in page_rows(client, **params)]


def expected_codes(key, reverse_=False, keep=lambda row: True) -> list[str]:
    return [row[0] for row in sorted((r for r in TABLE if keep(r)), key=key, reverse=reverse_)]


def test_it_lists_buyers_by_value_at_risk_largest_first(client, alice, risk_shop):
    client.force_login(alice)
    assert codes(client) == expected_codes(lambda r: Decimal(r[7]), reverse_=True)
    assert codes(client)[:2] == ["R003", "R001"]


@pytest.mark.parametrize("sort, column, descending", [
    ("-value_at_risk", 7, True), ("value_at_risk", 7, False), ("-clv", 6, True), ("clv", 6, False),
    ("-expected", 5, True), ("expected", 5, False),
    ("-churn", 4, False),  # most likely churned first: smallest P(alive) first
    ("churn", 4, True),
])
def test_it_sorts_by_each_figure(client, alice, risk_shop, sort, column, descending):
    client.force_login(alice)
    assert codes(client, sort=sort) == expected_codes(lambda r: float(r[column]), reverse_=descending)


def test_it_filters_by_owner_class_and_province(client, alice, sam, risk_shop):
    client.force_login(alice)
    by_var = lambda r: Decimal(r[7])  # noqa: E731
    assert codes(client, owner=sam.pk) == expected_codes(by_var, True, lambda r: r[1] == "sam")
    assert codes(client, owner="none") == expected_codes(by_var, True, lambda r: r[1] is None)
    assert codes(client, rfm_class="重要挽留客户") == ["R001", "R004"]
    assert codes(client, province="浙江省") == ["R003", "R002"]
    assert codes(client, province="广东省", rfm_class="重要挽留客户", owner=sam.pk) == ["R001"]


def test_sam_sees_only_his_own_customers_and_mary_sees_everyone(client, sam, mary, risk_shop):
    client.force_login(sam)
    assert codes(client) == ["R003", "R001", "R006"]
    # another owner's filter cannot widen what a sales rep sees
    assert codes(client, owner=mary.pk) == []
    client.force_login(mary)
    assert sorted(codes(client)) == sorted(r[0] for r in TABLE)


def test_each_row_shows_churn_probability_figures_and_the_playbook_action(client, alice, risk_shop):
    client.force_login(alice)
    first = page_rows(client)[0]
    assert first == {"code": "R003", "churn": "60.0", "expected": "0.3", "clv": "1500.0", "var": "900.0",
                     "action": "低成本触达（短信/公众号），不做重点投入"}
    Playbook.objects.filter(column="rfm_class", class_name="一般挽留客户").update(action="店长电话回访")
    assert page_rows(client)[0]["action"] == "店长电话回访"


def test_the_export_holds_the_rows_of_the_page_in_the_same_order(client, alice, risk_shop):
    client.force_login(alice)
    params = {"province": "广东省", "sort": "-churn"}
    shown = [[r["code"], float(r["churn"]), float(r["expected"]), float(r["clv"]), float(r["var"]), r["action"]]
             for r in page_rows(client, **params)]
    assert [r[0] for r in shown] == ["R001", "R004", "R005"]

    response = client.get(reverse("segments:risk_export"), {**params, "format": "csv"})
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[0] == "客户编号" and header[-1] == "建议行动"
    assert [[r[0], float(r[5]), float(r[6]), float(r[7]), float(r[8]), r[9]] for r in rows] == shown

    response = client.get(reverse("segments:risk_export"), {**params, "format": "xlsx"})
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    cells = list(sheet.iter_rows(values_only=True))[1:]
    assert [[r[0], r[5], r[6], r[7], r[8], r[9]] for r in cells] == shown


def test_a_name_that_looks_like_a_formula_is_exported_as_text(client, alice, risk_shop):
    Customer.objects.filter(code="R003").update(name="=HYPERLINK(\"http://x\")")
    client.force_login(alice)
    response = client.get(reverse("segments:risk_export"), {"format": "csv"})
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[1][:2] == ["R003", "'=HYPERLINK(\"http://x\")"]


def test_the_list_is_reachable_from_the_analysis_tabs_and_the_home_page(client, alice, risk_shop):
    client.force_login(alice)
    url = reverse("segments:risk")
    assert f'href="{url}"' in client.get(reverse("segments:dashboard")).content.decode()
    assert f'href="{url}"' in client.get(reverse("home")).content.decode()


def test_the_api_pages_through_the_same_order_and_scopes_sales_to_their_customers(db, alice, sam, risk_shop):
    api = token_client(alice)
    seen, cursor = [], ""
    while True:
        body = api.get("/api/risk", {"limit": 2, "cursor": cursor}).json()
        seen += [item["code"] for item in body["items"]]
        cursor = body["next_cursor"]
        if not cursor:
            break
    assert seen == expected_codes(lambda r: Decimal(r[7]), reverse_=True)
    first = api.get("/api/risk", {"limit": 1}).json()["items"][0]
    assert first["churn_probability"] == pytest.approx(0.6) and first["value_at_risk"] == "900.00"
    assert first["owner"]["username"] == "sam" and first["action"]

    mine = token_client(sam).get("/api/risk", {"sort": "-clv"}).json()["items"]
    assert [item["code"] for item in mine] == ["R003", "R001", "R006"]
    assert "/api/risk" in api.get("/api/openapi.json").json()["paths"]


def test_the_list_needs_a_login_and_ignores_an_unknown_sort(client, alice, risk_shop):
    assert client.get(reverse("segments:risk")).status_code == 302
    client.force_login(alice)
    assert codes(client, sort="name; DROP TABLE x") == codes(client)
