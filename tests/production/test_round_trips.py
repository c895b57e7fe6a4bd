"""Issue 10 item 6 through `kehu export` and `kehu import`: every export, opened in a spreadsheet program and saved
as ods or CSV (UTF-8, UTF-8 with BOM, GBK), imports again as unchanged — nothing new, nothing updated, every
customer and order row as it was, times to the second. And the Excel summary report says what the dashboard says.

The conversions are written here the way the programs write them (checked against LibreOffice 7.4's own output,
kept in tests/data/real/roundtrip/): a CSV cell holds what the cell shows — the number format applied, amounts
with thousands separators, dates in the sheet's format — and an ods cell holds a typed value. The expectations are
computed here from the database rows with plain Python, never by kehu's code.
"""

import csv
import datetime
import json
import re
from collections import Counter, defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest
from odf.opendocument import OpenDocumentSpreadsheet
from odf.table import Table, TableCell, TableRow
from odf.text import P

from .harness import Store

REAL = Path(__file__).resolve().parent.parent / "data" / "real" / "roundtrip"
CENT = Decimal("0.01")

DUMP = """
import json
from kehu.customers.models import Customer
from kehu.sales.models import Order
from kehu.segments.models import CustomerSegment
customers = [{"code": c.code, "name": c.name, "mobile": c.mobile, "email": c.email, "wechat": c.wechat,
              "registered_at": c.registered_at.isoformat(), "grade": c.grade, "province": c.province,
              "city": c.city, "notes": c.notes, "owner": c.owner_id, "version": c.version,
              "birthday": str(c.birthday), "tags": sorted(t.name for t in c.tags.all())}
             for c in Customer.objects.order_by("id")]
orders = [{"id": o.id, "customer": o.customer.code, "number": o.number, "ordered_at": o.ordered_at.isoformat(),
           "amount": str(o.amount), "status": o.status, "payment_method": o.payment_method,
           "sales_channel": o.sales_channel, "note": o.note, "lines": o.lines.count()}
          for o in Order.objects.select_related("customer").order_by("id")]
classes = dict(CustomerSegment.objects.values_list("customer__code", "rfm_class"))
print(json.dumps({"customers": customers, "orders": orders, "classes": classes}, ensure_ascii=False))
"""

DASHBOARD = """
import json
from kehu.segments.reports import Report, Scope, dashboard, latest_run
data = dashboard(Report(Scope(), latest_run()))
tables = {k: [[c["value"] for c in row] for row in data["tables"][k]["rows"]] for k in ("monthly", "rfm")}
print(json.dumps({"figures": data["figures"], "as_of": str(data["run"]["as_of"]) if data["run"] else "", **tables},
                 ensure_ascii=False, default=str))
"""


def dump(store: Store) -> dict:
    return json.loads(store.shell(DUMP).strip().splitlines()[-1])


@pytest.fixture(scope="module")
def shop(initialised_template, tmp_path_factory):
    """One demo store for the module, with every export made once: (store, folder of exported files)."""
    base = tmp_path_factory.mktemp("roundtrip")
    store = initialised_template.clone(base)
    store.kehu("demo", "--customers", "14", "--seed", "2")
    # a refund travels too, whatever the demo's draw gave (about 3 % of its orders are refunded)
    store.shell("from kehu.sales.models import Order, OrderStatus\n"
                "order = Order.objects.order_by('pk').last()\n"
                "order.status = OrderStatus.REFUNDED\n"
                "order.save()")
    out = base / "exports"
    out.mkdir()
    for what in ("customers", "orders"):
        for suffix in ("xlsx", "csv"):
            store.kehu("export", what, "-o", str(out / f"{what}.{suffix}"))
    store.kehu("export", "report", "-o", str(out / "report.xlsx"))
    yield store, out
    store.drop()


# ── what a spreadsheet program writes ─────────────────────────────────────────────────────────────────────────

def shown(cell, legacy: str = "") -> str:
    """A cell as the program shows it, which is what its CSV holds. `legacy` shows times the way a sheet without
    seconds does: "zh" as Chinese Excel's default (2024/1/5 13:45), "en" as LibreOffice in English (1/5/24 13:45)."""
    value, fmt = cell.value, cell.number_format or "General"
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        if legacy == "zh" and "hh" in fmt:
            return f"{value.year}/{value.month}/{value.day} {value.hour}:{value.minute:02d}"
        if legacy == "en" and "hh" in fmt:
            return f"{value.month}/{value.day}/{value.year % 100:02d} {value.hour}:{value.minute:02d}"
        if "hh:mm:ss" in fmt:
            return value.strftime("%Y-%m-%d %H:%M:%S")
        if "hh:mm" in fmt:
            return value.strftime("%Y-%m-%d %H:%M")
        return value.strftime("%Y-%m-%d")
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, int | float) and "#,##0.00" in fmt:
        symbol = re.match(r'^(?:"([^"]*)")?', fmt)[1] or ""  # '"¥"#,##0.00' shows ¥1,234.50
        return f"{symbol}{value:,.2f}"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def save_as_csv(xlsx: Path, target: Path, encoding: str = "utf-8", legacy: str = "") -> Path:
    """Save the first sheet as CSV as a program does: shown values, quoted only where needed, CRLF (Excel) or LF
    (LibreOffice) — encoding "utf-8" (LibreOffice), "utf-8-sig" (Excel's CSV UTF-8), "gbk" (Chinese Excel's CSV)."""
    ws = openpyxl.load_workbook(xlsx).worksheets[0]
    with open(target, "w", encoding=encoding, newline="") as f:
        writer = csv.writer(f, lineterminator="\r\n" if encoding != "utf-8" else "\n")
        for row in ws.iter_rows():
            writer.writerow([shown(c, legacy) for c in row])
    return target


def save_as_ods(xlsx: Path, target: Path) -> Path:
    """Save every sheet as ods as LibreOffice does: typed cells (float, date, string) with the shown text."""
    doc = OpenDocumentSpreadsheet()
    for ws in openpyxl.load_workbook(xlsx).worksheets:
        table = Table(name=ws.title)
        for row in ws.iter_rows():
            tr = TableRow()
            for cell in row:
                value = cell.value
                if value is None or (isinstance(value, str) and value.startswith("=")):
                    tc = TableCell()  # formulas are left out: the data sheets are what imports
                elif isinstance(value, datetime.datetime):
                    tc = TableCell(valuetype="date", datevalue=value.strftime("%Y-%m-%dT%H:%M:%S"))
                elif isinstance(value, datetime.date):
                    tc = TableCell(valuetype="date", datevalue=value.isoformat())
                elif isinstance(value, int | float):
                    tc = TableCell(valuetype="float", value=str(value))
                else:
                    tc = TableCell(valuetype="string")
                if value is not None and not (isinstance(value, str) and value.startswith("=")):
                    tc.addElement(P(text=shown(cell)))
                tr.addElement(tc)
            table.addElement(tr)
        doc.spreadsheet.addElement(table)
    doc.save(str(target))
    return target


def counts(output: str) -> dict[str, tuple[int, int, int, int]]:
    """{kind: (new, updated, unchanged, rejected)} from `kehu import`'s report."""
    return {m[1]: tuple(int(x) for x in m.groups()[1:]) for m in re.finditer(
        r"(\S+)：新增 (\d+)，更新 (\d+)，未变 (\d+)，拒绝 (\d+)", output)}


def imported(store: Store, path: Path) -> dict:
    run = store.kehu("import", str(path))
    assert re.search(r"错误 0 条", run.stdout), run.stdout
    return counts(run.stdout)


# ── the round trips ───────────────────────────────────────────────────────────────────────────────────────────

def test_every_export_saved_by_a_spreadsheet_program_imports_again_unchanged(shop, tmp_path):
    store, out = shop
    before = dump(store)
    n_customers, n_orders = len(before["customers"]), len(before["orders"])
    assert n_customers == 14 and n_orders > 40
    assert any(o["status"] == "refunded" for o in before["orders"])  # refunds travel too
    assert any(datetime.datetime.fromisoformat(o["ordered_at"]).second for o in before["orders"])

    # The report workbook holds the customers and orders sheets as their own exports write them (the same
    # writer): its xlsx and ods stand for theirs, which keeps this test to a few `kehu import` runs.
    files = [out / "report.xlsx", save_as_ods(out / "report.xlsx", tmp_path / "report.ods"),
             out / "customers.csv", out / "orders.csv",
             save_as_csv(out / "customers.xlsx", tmp_path / "customers-excel-gbk.csv", "gbk"),
             save_as_csv(out / "customers.xlsx", tmp_path / "customers-libreoffice.csv", "utf-8"),
             save_as_csv(out / "orders.xlsx", tmp_path / "orders-excel-utf8.csv", "utf-8-sig"),
             save_as_csv(out / "orders.xlsx", tmp_path / "orders-excel-gbk.csv", "gbk")]
    # Sheets saved by an older kehu, or reformatted by the user, show times without seconds.
    files += [save_as_csv(out / "orders.xlsx", tmp_path / "orders-minutes-gbk.csv", "gbk", legacy="zh"),
              save_as_csv(out / "orders.xlsx", tmp_path / "orders-minutes-en.csv", "utf-8", legacy="en"),
              save_as_csv(out / "customers.xlsx", tmp_path / "customers-minutes-en.csv", "utf-8", legacy="en")]
    assert "," in (tmp_path / "orders-excel-gbk.csv").read_bytes().decode("gbk").split("\n")[1]
    assert (tmp_path / "orders-excel-utf8.csv").read_bytes().startswith(b"\xef\xbb\xbf")

    for path in files:
        found = imported(store, path)
        expected = {}
        if "customers" in path.name or "report" in path.name:
            expected["客户信息"] = (0, 0, n_customers, 0)
        if "orders" in path.name or "report" in path.name:
            expected["消费记录"] = (0, 0, n_orders, 0)
        assert found == expected, (path.name, found)

    after = dump(store)
    assert after["customers"] == before["customers"]
    assert after["orders"] == before["orders"]  # same count, amounts, statuses, times with their seconds


def test_an_order_with_a_known_number_is_that_order_updated_never_a_duplicate(shop, tmp_path):
    store, out = shop
    before = dump(store)
    ws_path = out / "orders.xlsx"
    wb = openpyxl.load_workbook(ws_path)
    ws = wb.worksheets[0]
    header = [c.value for c in ws[1]]
    amount, number = header.index("消费金额（元）"), header.index("订单号")  # the unit of the shop's currency
    row = ws[2]
    changed_number = row[number].value
    row[amount].value = float(row[amount].value) + 10
    edited = tmp_path / "orders-edited.xlsx"
    wb.save(edited)
    found = imported(store, save_as_csv(edited, tmp_path / "orders-edited.csv", "gbk", legacy="zh"))
    assert found == {"消费记录": (0, 1, len(before["orders"]) - 1, 0)}
    after = dump(store)
    assert len(after["orders"]) == len(before["orders"])
    old = next(o for o in before["orders"] if o["number"] == changed_number)
    new = next(o for o in after["orders"] if o["number"] == changed_number)
    assert Decimal(new["amount"]) == Decimal(old["amount"]) + 10
    assert new["ordered_at"] == old["ordered_at"]  # the file's 13:45 is the stored 13:45:12: kept as it was


def test_a_mobile_a_spreadsheet_cut_to_scientific_notation_is_refused_and_never_stored(shop, tmp_path):
    store, _ = shop
    path = tmp_path / "new-customers.csv"
    path.write_text("客户编号,姓名,手机\r\nSCI001,科学,1.38123E+10\r\nSCI002,全精度,13812345679\r\n", encoding="gbk")
    run = store.kehu("import", str(path), check=False)
    assert "第2行" in run.stdout and "【手机】" in run.stdout and "科学计数法" in run.stdout, run.stdout
    assert counts(run.stdout)["客户信息"] == (1, 0, 0, 1)
    stored = {c["code"]: c["mobile"] for c in dump(store)["customers"] if c["code"].startswith("SCI")}
    assert stored == {"SCI002": "+8613812345679"}


# ── the summary report agrees with the dashboard ──────────────────────────────────────────────────────────────

def money(value) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def report_figures(path: Path) -> dict:
    """Every figure of the 汇总 sheet, its formulas computed over the workbook's data sheets (pycel)."""
    from pycel import ExcelCompiler

    compiled = ExcelCompiler(filename=str(path))
    ws = openpyxl.load_workbook(path)["汇总"]
    section, found = "", defaultdict(dict)
    for row in ws.iter_rows():
        cells = [compiled.evaluate(f"汇总!{c.coordinate}") if isinstance(c.value, str) and c.value.startswith("=")
                 else c.value for c in row]
        label = cells[0]
        if label is None or len(cells) < 2 or cells[1] is None:
            section = label or section
            continue
        if isinstance(cells[1], str):
            continue  # a header row
        if isinstance(label, datetime.datetime):
            label = f"{label:%Y-%m}"
        found[section][label] = [x for x in cells[1:] if x is not None]
    return found


def test_the_summary_report_says_what_the_dashboard_says(shop):
    store, out = shop
    store.kehu("export", "report", "-o", str(out / "report-now.xlsx"))  # the other tests may have changed rows
    data = dump(store)
    dash = json.loads(store.shell(DASHBOARD).strip().splitlines()[-1])
    report = report_figures(out / "report-now.xlsx")

    # The expectation, from the order rows: completed orders are purchases, refunded ones are counted apart.
    tz = datetime.timezone(datetime.timedelta(hours=8))  # Asia/Shanghai, the shop's clock
    months: dict[str, list] = defaultdict(lambda: [Decimal(0), 0, Decimal(0), 0])
    for o in data["orders"]:
        month = datetime.datetime.fromisoformat(o["ordered_at"]).astimezone(tz).strftime("%Y-%m")
        at = 0 if o["status"] == "completed" else 2
        months[month][at] += Decimal(o["amount"])
        months[month][at + 1] += 1
    monthly = report["按月消费（公式随数据更新）"]
    assert min(monthly) == min(months) and max(monthly) == max(months) and len(monthly) > 12
    for month, got in monthly.items():  # every month from the first order to the last, quiet ones too
        amount, n, refunded, n_refunded = months.get(month, (0, 0, 0, 0))
        assert (money(got[0]), got[1], money(got[2]), got[3]) == (amount, n, refunded, n_refunded), month
    assert dash["monthly"], "the dashboard shows months"
    for month, revenue, n, _new in dash["monthly"]:
        if month in months:
            assert (money(revenue), n) == (money(monthly[month][0]), monthly[month][1]), month
        else:
            assert (revenue, n) == (0, 0), month

    completed = [o for o in data["orders"] if o["status"] == "completed"]
    refunded = [o for o in data["orders"] if o["status"] != "completed"]
    totals = {k.split("（")[0]: v[0] for k, v in report["合计"].items()}  # 消费总额（元） is 消费总额
    assert refunded, "the demo data has refunds"
    assert totals["客户数"] == len(data["customers"]) == dash["figures"]["customers"]
    assert money(totals["消费总额"]) == sum(Decimal(o["amount"]) for o in completed) == money(
        dash["figures"]["revenue"])
    assert totals["订单数"] == len(completed) == dash["figures"]["orders"]
    assert money(totals["退款额"]) == sum(Decimal(o["amount"]) for o in refunded)
    assert totals["退款笔数"] == len(refunded)

    classes = Counter(c for c in data["classes"].values() if c)
    rfm = {k: v[0] for k, v in report["按RFM分层"].items()}
    assert rfm == {name: classes.get(name, 0) for name in rfm}
    assert sum(rfm.values()) == sum(classes.values())
    assert {row[0]: row[1] for row in dash["rfm"] if row[0] in rfm and row[1]} == {k: v for k, v in rfm.items() if v}

    grades = Counter(c["grade"] or "未评级" for c in data["customers"])
    assert {k: v[0] for k, v in report["按客户评级"].items()} == {
        g: grades.get(g, 0) for g in ["A", "B", "C", "D", "未评级"]}
    provinces = Counter(c["province"] for c in data["customers"] if c["province"])
    assert {k: v[0] for k, v in report["按省份"].items()} == provinces
