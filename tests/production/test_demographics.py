"""Age band × gender (年龄与性别) on a live `kehu serve` over the demo shop: the analysis page and its exports against
figures computed here from the customers' birthdays (read through the ORM in a separate process, decrypted there,
banded here in plain Python); a rule segment "年龄段 25–34 且 女"; who may filter individual customers by age band
(page, API, export); edited bands; a PIPL erase; and `kehu analyze` of a workbook with birthdays."""

import csv
import datetime
import io
import itertools
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal

import openpyxl
import pytest

from kehu.ops.demo import DEMO_PASSWORD
from kehu.segments.engine.classify import RFM_CLASSES

from .harness import LiveServer

STORED = """
import json
from kehu.customers.models import Customer
from kehu.lib.dates import today
rows = Customer.objects.values_list("code", "gender", "birthday", "age_band", "owner__username",
                                    "segment__rfm_class", "segment__monetary", "segment__frequency", "kind")
print(json.dumps({"today": today().isoformat(), "rows": [
    [code, gender, birthday.isoformat() if birthday else None, band, owner, cls or "", str(m or 0), f or 0, kind]
    for code, gender, birthday, band, owner, cls, m, f, kind in rows]}))
"""
GENDER = {"male": "男", "female": "女", "": "未知"}
DEFAULT_CUTS = (25, 35, 45, 55)


def band_of(birthday: str | None, on: datetime.date, cuts=DEFAULT_CUTS) -> str:
    """The band label a person would write down: 周岁 on `on`, 29 Feb birthdays a year older on 1 Mar."""
    if birthday is None:
        return "未知"
    born = datetime.date.fromisoformat(birthday)
    age = on.year - born.year - ((on.month, on.day) < (born.month, born.day))
    labels = [f"<{cuts[0]}", *(f"{a}–{b - 1}" for a, b in itertools.pairwise(cuts)), f"{cuts[-1]}+"]
    return labels[sum(age >= c for c in cuts)]


def expected_cells(stored: dict, cuts=DEFAULT_CUTS, owner: str | None = None) -> dict:
    """(band, gender) → customers, revenue, orders, customers per RFM class of the individual customers (a company
    has no age or gender), computed from the stored rows."""
    on = datetime.date.fromisoformat(stored["today"])
    cells: dict = defaultdict(lambda: {"customers": 0, "revenue": Decimal(0), "orders": 0, "classes": Counter()})
    for _code, gender, birthday, _band, who, cls, money, orders, kind in stored["rows"]:
        if kind != "person" or (owner is not None and who != owner):
            continue
        cell = cells[(band_of(birthday, on, cuts), GENDER[gender])]
        cell["customers"] += 1
        cell["revenue"] += Decimal(money)
        cell["orders"] += orders
        cell["classes"][cls] += 1
    return cells


def exported_cells(rows: list[list]) -> dict:
    header, body = rows[0], rows[1:]
    assert header[:8] == ["年龄段", "性别", "客户数", "客户占比", "消费金额", "金额占比", "订单数", "客单价"]
    assert header[8:16] == list(RFM_CLASSES)
    cells = {}
    for row in body:
        customers = int(row[2])
        if not customers:
            continue
        classes = Counter({name: int(n) for name, n in zip([*RFM_CLASSES, ""], row[8:17], strict=True) if int(n)})
        cells[(row[0], row[1])] = {"customers": customers, "revenue": Decimal(str(row[4])).quantize(Decimal("0.01")),
                                   "orders": int(row[6]), "classes": classes}
    return cells


def assert_same(exported: dict, expected: dict) -> None:
    assert set(exported) == set(expected)
    for key, cell in expected.items():
        got = exported[key]
        assert got["customers"] == cell["customers"], key
        assert got["revenue"] == cell["revenue"], key
        assert got["orders"] == cell["orders"], key
        assert got["classes"] == +cell["classes"], key


def csv_rows(response) -> list[list]:
    assert response.status_code == 200, response.text[:300]
    return list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))


def api_codes(session, **params) -> set[str]:
    codes, cursor = set(), ""
    while True:
        answer = session.get("/api/customers", params={**params, "limit": 200, "cursor": cursor})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        codes |= {item["code"] for item in body["items"]}
        cursor = body["next_cursor"]
        if not cursor:
            return codes


@pytest.fixture(scope="module")
def shop(initialised_template, tmp_path_factory):
    store = initialised_template.clone(tmp_path_factory.mktemp("demographics"))
    store.kehu("demo", "--customers", "300")
    store.kehu("segment")
    stored = json.loads(store.shell(STORED).strip().splitlines()[-1])
    with LiveServer(store) as server:
        yield store, server, stored
    store.drop()


def test_the_analysis_page_and_its_exports_match_the_birthdays(shop):
    _store, server, stored = shop
    expected = expected_cells(stored)
    assert len(expected) >= 8 and ("未知", "女") in expected, "the demo shop should spread over the bands"
    companies = sum(row[8] == "company" for row in stored["rows"])
    assert companies and sum(c["customers"] for c in expected.values()) == len(stored["rows"]) - companies
    admin = server.session()
    page = admin.get("/segments/analysis/demographics/")
    assert page.status_code == 200 and "各年龄段与性别" in page.text and 'data-chart="chart-mix"' in page.text
    assert f"企业客户（{companies} 位）没有年龄和性别，不计入。" in page.text
    assert "?age_band=25-34&amp;gender=female" in page.text      # a cell links to its customers
    assert_same(exported_cells(csv_rows(admin.get("/segments/export/demographics/demographics/?format=csv"))),
                expected)
    xlsx = admin.get("/segments/export/demographics/demographics/?format=xlsx")
    sheet = openpyxl.load_workbook(io.BytesIO(xlsx.content)).active
    assert_same(exported_cells([list(r) for r in sheet.iter_rows(values_only=True)]), expected)

    # a sales rep sees the same figures over their own customers, and no links to customers
    sales = server.session("sales1", DEMO_PASSWORD)
    own = expected_cells(stored, owner="sales1")
    assert own and sum(c["customers"] for c in own.values()) < len(stored["rows"])
    assert_same(exported_cells(csv_rows(sales.get("/segments/export/demographics/demographics/?format=csv"))), own)
    assert "age_band=" not in sales.get("/segments/analysis/demographics/").text


ROW = re.compile(r'<tr data-rule="(\d+)">\s*<td><a [^>]*>年轻女性</a></td>\s*<td>([^<]*)</td>\s*<td[^>]*>(.*?)</td>',
                 re.S)


@pytest.fixture(scope="module")
def young_women(shop):
    """The rule segment 年龄段 25–34 且 女, made on the rule form by the admin: (its id, the admin's row)."""
    _store, server, _stored = shop
    admin = server.session()
    made = admin.post("/segments/rules/new/", data={
        "name": "年轻女性", "combine": "and", "field_1": "age_band", "op_1": "in", "values_1": "25–34",
        "field_2": "gender", "op_2": "in", "values_2": "女"}, allow_redirects=False)
    assert made.status_code == 302, made.text[:2000]
    return ROW.search(admin.get("/segments/rules/").text).groups()


def test_a_rule_segment_of_women_aged_25_to_34_lists_exactly_them(shop, young_women):
    _store, server, stored = shop
    on = datetime.date.fromisoformat(stored["today"])
    expected = {code for code, gender, birthday, *_ in stored["rows"]
                if gender == "female" and band_of(birthday, on) == "25–34"}
    assert len(expected) >= 5
    pk, text, count = young_women
    assert text == "年龄段：25–34 且 性别：女"
    assert re.sub(r"<[^>]+>", "", count) == str(len(expected))
    admin = server.session()
    assert api_codes(admin, rule=pk) == expected
    assert api_codes(admin, age_band="25-34", gender="female") == expected


@pytest.mark.parametrize("username", ["viewer", "sales1"])
def test_a_role_that_sees_birthdays_masked_cannot_list_customers_by_age_band(shop, young_women, username):
    _store, server, stored = shop
    insider = server.session(username, DEMO_PASSWORD)
    refused = "按年龄段筛选客户需要查看完整生日的权限"
    page = insider.get("/customers/", params={"age_band": "25-34"})
    assert page.status_code == 400 and refused in page.text
    answer = insider.get("/api/customers", params={"age_band": "25-34"})
    assert answer.status_code == 422 and refused in answer.json()["errors"]["age_band"][0]
    for fmt in ("csv", "xlsx"):
        export = insider.get(f"/exchange/customers.{fmt}", params={"age_band": "unknown"})
        assert export.status_code == 400 and refused in export.text
    # the rule segment on the age band: no count, and its members are refused alike
    pk = young_women[0]
    _pk, _text, count = ROW.search(insider.get("/segments/rules/").text).groups()
    assert "仅限可查看生日的角色" in count and "?rule=" not in count
    assert insider.get("/customers/", params={"rule": pk}).status_code == 400
    assert insider.get("/api/customers", params={"rule": pk}).status_code == 422
    assert insider.get("/exchange/customers.csv", params={"rule": pk}).status_code == 400
    # gender is no contact detail: every role filters by it (a sales rep over their own customers)
    females = {code for code, gender, _b, _band, owner, *_ in stored["rows"]
               if gender == "female" and (username == "viewer" or owner == username)}
    assert api_codes(insider, gender="female") == females
    listing = insider.get("/customers/")
    assert 'name="gender"' in listing.text and 'name="age_band"' not in listing.text


def test_edited_bands_recompute_every_customer(shop):
    _store, server, stored = shop
    admin = server.session()
    page = admin.get("/segments/analysis/demographics/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)

    def save(text: str):
        return admin.post("/segments/settings/age-bands/", data={"boundaries": text, "csrfmiddlewaretoken": token})

    try:
        for _ in range(2):  # the second time changes nobody
            saved = save("30，50")
            assert saved.status_code == 200 and "年龄段已保存" in saved.text
        assert "0 位客户的年龄段随之更新" in saved.text
        assert_same(exported_cells(csv_rows(admin.get("/segments/export/demographics/demographics/?format=csv"))),
                    expected_cells(stored, cuts=(30, 50)))
        assert "分界年龄应从小到大排列" in save("50, 30").text
        assert server.session("viewer", DEMO_PASSWORD).post(
            "/segments/settings/age-bands/", data={"boundaries": "40"}).status_code == 403
    finally:
        save("25, 35, 45, 55")


def test_kehu_analyze_of_a_workbook_with_birthdays_has_the_demographics_sheet(ready_store, tmp_path):
    as_of = datetime.date(2025, 6, 30)
    people = [("C001", "女", "2000-02-29", [120, 80]), ("C002", "女", "1995-07-01", [300]),
              ("C003", "男", "1990-07-01", [50, 50, 50]), ("C004", "男", "", [999]),
              ("C005", "", "1960-01-15", [10]), ("C006", "女", "2000-07-01", [])]
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "客户"
    sheet.append(["客户编号", "姓名", "性别", "生日"])
    for code, gender, birthday, _orders in people:
        sheet.append([code, f"客户{code}", gender, birthday])
    orders = book.create_sheet("消费记录")
    orders.append(["客户编号", "消费日期", "消费金额"])
    for code, _g, _b, amounts in people:
        for i, amount in enumerate(amounts):
            orders.append([code, f"2025-0{i + 1}-10", amount])
    source, out = tmp_path / "客户.xlsx", tmp_path / "分析.xlsx"
    book.save(source)
    ready_store.kehu("analyze", str(source), "-o", str(out), "--as-of", as_of.isoformat())

    rows = list(openpyxl.load_workbook(out)["年龄与性别"].iter_rows(values_only=True))
    assert rows[0][:6] == ("年龄段", "性别", "客户数", "消费总额（元）", "订单数", "客单价（元）")
    found = {(r[0], r[1]): (r[2], r[3], r[4]) for r in rows[1:] if r and r[2]}
    expected: dict = defaultdict(lambda: [0, 0, 0])
    for _code, gender, birthday, amounts in people:
        cell = expected[(band_of(birthday or None, as_of), gender or "未知")]
        cell[0] += 1
        cell[1] += sum(amounts)
        cell[2] += len(amounts)
    assert found == {key: tuple(value) for key, value in expected.items()}
    # 29 Feb 2000 is 25 on 1 Mar 2025, so 25–34 by 30 June; 1 July 2000 turns 25 the day after
    assert ("25–34", "女") in found and ("<25", "女") in found
