"""Every export cell neutralised (issue 11, item 5).

Hostile text (=HYPERLINK("x"), +1, -1, @x, a leading tab or carriage return) is planted in provinces,
categories, names, notes, custom-field labels and import problems; then every export address the pages link
to and every export command is fetched, and no cell of any file may start with = + - @ tab or CR unless it is
escaped. Real numbers stay numbers (a −1 in a numeric cell is the number −1), and the report's own formulas
(SUMIFS over its data sheets) stay formulas.
"""

import csv
import datetime
import io
import re
from decimal import Decimal

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from kehu.customers.models import CustomField
from kehu.engagement.models import Consent, FeedbackDimension
from kehu.exchange import analyze
from kehu.exchange.importer import import_file
from kehu.exchange.models import ImportBatch
from kehu.marketing.models import TargetList
from kehu.sales.models import Category, Order, OrderLine, Product
from kehu.segments import pipeline
from kehu.segments.reports import PAGES
from tests.conftest import make_customer
from tests.exchange.helpers import write_csv, write_xlsx

HOSTILE = ['=HYPERLINK("x")', "+1", "-1", "@x", "\tTAB", "\rCR"]
DANGER = ("=", "+", "-", "@", "\t", "\r")
# The report's summary sheet is made of formulas kehu writes itself over its own data sheets.
OWN_FORMULA = re.compile(r"^=(SUMIFS|COUNTIFS|COUNTA|SUM)\(")


def _xlsx_problems(content: bytes, where: str) -> list[str]:
    book = load_workbook(io.BytesIO(content))
    found = []
    for ws in book.worksheets:
        if ws.title.startswith(DANGER):
            found.append(f"{where}: sheet name {ws.title!r}")
        for row in ws.iter_rows():
            for cell in row:
                value = cell.value
                if not isinstance(value, str) or not value.startswith(DANGER):
                    continue
                if cell.data_type == "f" and OWN_FORMULA.match(value) and "HYPERLINK" not in value:
                    continue
                found.append(f"{where}: {ws.title}!{cell.coordinate} = {value!r}")
    return found


def _csv_problems(text: str, where: str) -> list[str]:
    found = []
    for row in csv.reader(io.StringIO(text.lstrip("\ufeff"))):
        for value in row:
            if not value.startswith(DANGER):
                continue
            try:
                Decimal(value)  # a real negative number written as such
            except ArithmeticError:
                found.append(f"{where}: {value!r}")
    return found


@pytest.fixture
def hostile_world(db, alice, mary, tmp_path, settings):
    settings.KEHU_HOME, settings.KEHU_IMPORT_BACKGROUND = tmp_path, False
    CustomField.objects.create(key="note_x", label='=HYPERLINK("x")', type="text")
    CustomField.objects.create(key="score", label="+分数", type="number")
    FeedbackDimension.objects.create(name="@满意度")
    today = datetime.date.today()
    customers = []
    for i, text in enumerate(HOSTILE):
        c = make_customer(name=f"{text}客户" if i else text, province=text, city=text, notes=text, company=text,
                          industry=text, source=text, email=f"c{i}@example.com", extra={"note_x": text, "score": "-1"})
        Consent.objects.create(customer=c, channel="email", granted=True)
        category = Category.objects.create(name=text)
        product = Product.objects.create(name=f"{text}商品{i}", category=category)
        for days in (400, 200, 30 + i):
            order = Order.objects.create(customer=c, amount=Decimal("-1") if days == 200 else Decimal("88"),
                                         ordered_at=datetime.datetime.combine(today - datetime.timedelta(days=days),
                                                                              datetime.time(10),
                                                                              tzinfo=datetime.UTC),
                                         note=text)
            OrderLine.objects.create(order=order, product=product, product_name=product.name, category=category,
                                     unit_price=Decimal("88"))
        customers.append(c)
    pipeline.refresh()
    TargetList.objects.create(name="=名单", channel="email", created_by=mary)
    bad = write_xlsx(tmp_path / "bad.xlsx", {"客户": [["姓名", "生日"], ['=HYPERLINK("x")', "-1"], ["+1", "明天"]]})
    result = import_file(bad, user=alice)
    ImportBatch.objects.filter(pk=result.batch.pk).update(stored_file=str(bad))  # as the import page keeps it
    return {"customers": customers, "batch": result.batch}


def _body(answer) -> bytes:
    return b"".join(answer.streaming_content) if answer.streaming else answer.content


def _export_links(client: Client) -> set[str]:
    """Every export address the analysis pages link to."""
    links = set()
    for page in PAGES:
        url = "/segments/" if page == "dashboard" else ("/segments/movement/" if page == "movement"
                                                      else f"/segments/analysis/{page}/")
        html = client.get(url).content.decode()
        links |= {link.replace("&amp;", "&") for link in re.findall(r'href="(/segments/export/[^"]+)"', html)}
    return links


def test_no_exported_cell_starts_like_a_formula_on_any_export_address(hostile_world, alice, tmp_path):
    web = Client()
    web.force_login(alice)
    links = _export_links(web)
    assert any("/regions/" in link for link in links) and any("/preferences/" in link for link in links)
    code = hostile_world["customers"][1].code
    tl = TargetList.objects.get()
    addresses = [
        *sorted(links), "/exchange/customers.xlsx", "/exchange/customers.csv", "/exchange/orders.xlsx",
        "/exchange/orders.csv",
        "/exchange/report.xlsx", *[f"/exchange/templates/{kind}.xlsx" for kind in
                                   ("customers", "purchases", "preferences", "communications", "feedback")],
        f"/marketing/lists/{tl.pk}/export.xlsx", f"/marketing/lists/{tl.pk}/export.csv",
        reverse("exchange:batch_report", args=[hostile_world["batch"].pk]),
    ]
    problems, fetched = [], 0
    for url in addresses:
        answer = web.get(url)
        assert answer.status_code == 200, (url, answer.status_code)
        body = _body(answer)
        if "csv" in url:
            problems += _csv_problems(body.decode("utf-8-sig"), url)
        else:
            problems += _xlsx_problems(body, url)
        fetched += 1
    pipl = web.post(reverse("customers:privacy_export", args=[code, "xlsx"]))
    problems += _xlsx_problems(_body(pipl), "pipl export")
    assert fetched == len(addresses) > 25
    assert problems == []


def test_no_cell_starts_like_a_formula_in_the_files_of_the_export_commands(hostile_world, tmp_path):
    problems = []
    for what, suffix in (("customers", "xlsx"), ("customers", "csv"), ("orders", "xlsx"), ("orders", "csv"),
                         ("report", "xlsx")):
        out = tmp_path / f"{what}.{suffix}"
        call_command("export", what, "-o", str(out))
        data = out.read_bytes()
        problems += _csv_problems(data.decode("utf-8-sig"), str(out)) if suffix == "csv" else \
            _xlsx_problems(data, str(out))
    for kind in ("customers", "feedback"):
        out = tmp_path / f"template-{kind}.xlsx"
        call_command("export", "template", kind, "-o", str(out))
        problems += _xlsx_problems(out.read_bytes(), str(out))
    out = tmp_path / "pipl.xlsx"
    call_command("pipl", "export", hostile_world["customers"][2].code, "-o", str(out))
    problems += _xlsx_problems(out.read_bytes(), str(out))
    assert problems == []


def test_real_negative_numbers_stay_numbers(hostile_world, alice):
    web = Client()
    web.force_login(alice)
    book = load_workbook(io.BytesIO(_body(web.get("/exchange/customers.xlsx"))))
    rows = list(book.active.iter_rows(values_only=True))
    score = rows[0].index("'+分数")  # the label is escaped, the values are numbers
    codes = {c.code for c in hostile_world["customers"]}
    assert [row[score] for row in rows[1:] if row[0] in codes] == [-1] * len(HOSTILE)
    orders = list(load_workbook(io.BytesIO(_body(web.get("/exchange/orders.xlsx")))).active.iter_rows(values_only=True))
    amounts = [row[3] for row in orders[1:]]
    assert amounts.count(-1) == len(HOSTILE) and all(isinstance(a, int | float) for a in amounts)
    csv_rows = list(csv.reader(io.StringIO(_body(web.get("/exchange/orders.csv")).decode("utf-8-sig"))))
    assert [r[3] for r in csv_rows[1:]].count("-1.00") == len(HOSTILE)


def test_the_analysis_report_of_a_hostile_file_holds_no_live_formula(db, tmp_path):
    rows = [["客户编号", "姓名", "消费日期", "消费金额"]]
    for i, text in enumerate(HOSTILE):
        rows += [[f"{text}{i}", text, "2024-01-05", "100"], [f"{text}{i}", text, "2024-03-05", "120"]]
    path = write_csv(tmp_path / "hostile.csv", rows)
    out = tmp_path / "report.xlsx"
    analyze.write_report(analyze.analyze(path, datetime.date(2024, 6, 30)), out)
    assert _xlsx_problems(out.read_bytes(), "analyze") == []
