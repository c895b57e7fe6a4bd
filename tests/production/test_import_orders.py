"""Files shaped like the real ones — platform order exports, an Online Retail-format workbook with
cancellations, a shop's one-sheet ledger — imported with `kehu import` and analysed with `kehu analyze`,
each customer's orders and spend checked against what the file says, read here with csv/openpyxl and
plain Python (never kehu's code)."""

import csv
import datetime
import json
import re
import time
from collections import defaultdict
from decimal import Decimal
from pathlib import Path

import openpyxl
import pytest

from .harness import ON_POSTGRES

REAL = Path(__file__).resolve().parent.parent / "data" / "real"
CENT = Decimal("0.01")


def money(value) -> Decimal:
    return Decimal(str(value if value not in (None, "") else 0)).quantize(CENT)


def csv_rows(name: str, encoding: str) -> list[dict]:
    with open(REAL / name, encoding=encoding, newline="") as f:
        return [{k.strip(): v for k, v in row.items()} for row in csv.DictReader(f)]


def xlsx_rows(name: str) -> list[dict]:
    ws = openpyxl.load_workbook(REAL / name, read_only=True).worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = [str(h).strip() for h in next(rows)]
    return [dict(zip(header, row, strict=False)) for row in rows if any(c not in (None, "") for c in row)]


def grouped(rows: list[dict], column: str) -> list[list[dict]]:
    orders: dict[str, list[dict]] = {}
    for row in rows:
        orders.setdefault(str(row[column]), []).append(row)
    return list(orders.values())


def day(value) -> datetime.date:
    if isinstance(value, datetime.datetime):
        return value.date()
    return datetime.date.fromisoformat(str(value)[:10])


class Expected:
    """Per customer key: counted orders, spend and the day of the last counted order."""

    def __init__(self):
        self.customers: dict[tuple[str, str], dict] = {}

    def customer(self, key: tuple[str, str]) -> None:
        self.customers.setdefault(key, {"orders": 0, "spend": Decimal(0), "last": None})

    def order(self, key: tuple[str, str], amount: Decimal, when) -> None:
        self.customer(key)
        c = self.customers[key]
        c["orders"] += 1
        c["spend"] += amount
        c["last"] = max(filter(None, [c["last"], day(when)]))


def phone_or_name(phone: str, name: str) -> tuple[str, str]:
    """A masked phone (158****7475) never names a customer: the receiver does."""
    return ("name", name) if "*" in phone else ("mobile", phone)


# ── what each file says, read the way its platform means it ─────────────────────────────────────────────────

def taobao() -> Expected:
    e = Expected()
    for r in csv_rows("taobao_orders.csv", "gbk"):
        key = ("code", r["买家会员名"])
        e.customer(key)
        net = money(r["买家实际支付金额"]) - money(r["退款金额"])
        if r["订单状态"] in ("交易成功", "卖家已发货，等待买家确认") and net > 0:
            e.order(key, net, r["订单付款时间"])
    return e


def jd() -> Expected:
    e = Expected()
    for lines in grouped(csv_rows("jd_orders.csv", "gbk"), "订单号"):
        first = lines[0]
        key = ("code", first["下单帐号"])
        e.customer(key)
        if first["订单状态"] in ("完成", "等待确认收货"):
            e.order(key, money(first["应付金额"]), first["付款确认时间"])
    return e


def pdd() -> Expected:
    e = Expected()
    for r in csv_rows("pdd_orders.csv", "utf-8-sig"):
        key = phone_or_name(r["手机"], r["收货人"])
        e.customer(key)
        if r["订单状态"] in ("已签收", "已发货，待签收"):
            e.order(key, money(r["用户实付金额(元)"]), r["订单成交时间"])
    return e


def douyin() -> Expected:
    e = Expected()
    for lines in grouped(csv_rows("douyin_orders.csv", "utf-8-sig"), "主订单编号"):
        first = lines[0]
        key = ("name", first["收件人"])
        e.customer(key)
        if first["订单状态"] in ("已完成", "已发货"):
            e.order(key, money(first["订单应付金额"]), first["支付完成时间"])
    return e


def one_row_per_order(rows, key_of, counted, amount_of, paid_at) -> Expected:
    e = Expected()
    for r in rows:
        key = key_of(r)
        e.customer(key)
        net = amount_of(r)
        if r["订单状态"] in counted and net > 0:
            e.order(key, net, r[paid_at])
    return e


def kuaishou() -> Expected:
    return one_row_per_order(xlsx_rows("kuaishou_orders.xlsx"), lambda r: ("code", str(r["买家ID"])),
                             ("交易成功", "已发货"), lambda r: money(r["实付款"]) - money(r["退款金额"]),
                             "订单支付时间")


def youzan() -> Expected:
    return one_row_per_order(xlsx_rows("youzan_orders.xlsx"), lambda r: ("mobile", str(r["买家手机号"])),
                             ("交易成功", "已发货"), lambda r: money(r["订单实付金额"]) - money(r["已退款金额"]),
                             "买家付款时间")


def weidian() -> Expected:
    return one_row_per_order(csv_rows("weidian_orders.csv", "gbk"), lambda r: ("mobile", r["收货人手机"]),
                             ("已完成", "已发货"), lambda r: money(r["实收款"]) - money(r["退款金额"]), "付款时间")


def xiaohongshu() -> Expected:
    return one_row_per_order(xlsx_rows("xiaohongshu_orders.xlsx"), lambda r: ("code", str(r["小红书号"])),
                             ("已完成", "已发货"), lambda r: money(r["实付金额"]) - money(r["退款金额"]), "支付时间")


def weixin() -> Expected:
    e = Expected()
    for lines in grouped(xlsx_rows("weixin_shop_orders.xlsx"), "订单号"):
        first = lines[0]
        key = ("name", first["收件人姓名"])
        e.customer(key)
        net = money(first["订单实付金额"]) - money(first["退款金额"])
        if first["订单状态"] in ("已完成", "待收货") and net > 0:
            e.order(key, net, first["支付时间"])
    return e


def shopify() -> Expected:
    e = Expected()
    for lines in grouped(csv_rows("shopify_orders.csv", "utf-8"), "Name"):
        first = lines[0]  # Shopify fills the order's columns on its first line only
        key = ("email", first["Email"])
        e.customer(key)
        net = money(first["Total"]) - money(first["Refunded Amount"])
        if first["Financial Status"] in ("paid", "partially_refunded") and net > 0:
            e.order(key, net, first["Paid at"])
    return e


def woocommerce() -> Expected:
    e = Expected()
    for lines in grouped(csv_rows("woocommerce_orders.csv", "utf-8"), "Order Number"):
        first = lines[0]
        key = ("email", first["Email (Billing)"])
        e.customer(key)
        net = money(first["Order Total Amount"]) - money(first["Order Refund Amount"])
        if first["Order Status"] in ("Completed", "Processing") and net > 0:
            e.order(key, net, first["Order Date"])
    return e


def online_retail() -> Expected:
    """Invoice lines summed per invoice; C-invoices are cancellations; lines without CustomerID are anonymous."""
    e = Expected()
    for lines in grouped([r for r in xlsx_rows("online_retail.xlsx") if r["CustomerID"]], "InvoiceNo"):
        first = lines[0]
        key = ("code", str(int(first["CustomerID"])))
        e.customer(key)
        total = sum((Decimal(str(r["Quantity"])) * Decimal(str(r["UnitPrice"])) for r in lines), Decimal(0))
        if not str(first["InvoiceNo"]).startswith("C") and total > 0:
            e.order(key, total.quantize(CENT), first["InvoiceDate"])
    return e


def ledger() -> Expected:
    """A shop's one sheet: each row a purchase of the customer it names; bad amounts and dates are not."""
    e = Expected()
    for r in xlsx_rows("shop_ledger.xlsx"):
        key = ("mobile", str(r["手机"]))
        e.customer(key)
        if isinstance(r["消费金额"], int | float) and isinstance(r["消费日期"], datetime.datetime):
            e.order(key, money(r["消费金额"]), r["消费日期"])
    return e


PLATFORM_FILES = {
    "taobao_orders.csv": taobao, "jd_orders.csv": jd, "pdd_orders.csv": pdd, "douyin_orders.csv": douyin,
    "kuaishou_orders.xlsx": kuaishou, "youzan_orders.xlsx": youzan, "weidian_orders.csv": weidian,
    "weixin_shop_orders.xlsx": weixin, "xiaohongshu_orders.xlsx": xiaohongshu, "shopify_orders.csv": shopify,
    "woocommerce_orders.csv": woocommerce, "online_retail.xlsx": online_retail,
}
PROFILE_NAMES = {
    "taobao_orders.csv": "淘宝/天猫", "jd_orders.csv": "京东", "pdd_orders.csv": "拼多多",
    "douyin_orders.csv": "抖店（抖音电商）", "kuaishou_orders.xlsx": "快手小店", "youzan_orders.xlsx": "有赞",
    "weidian_orders.csv": "微店", "weixin_shop_orders.xlsx": "微信小店/视频号小店", "xiaohongshu_orders.xlsx": "小红书",
    "shopify_orders.csv": "Shopify", "woocommerce_orders.csv": "WooCommerce",
    "online_retail.xlsx": "Online Retail (UCI)",
}

DUMP = """
import json
from django.db.models import Count, Q, Sum
from kehu.customers.models import Customer
rows = []
for c in Customer.objects.annotate(n=Count("orders", filter=Q(orders__status="completed")),
                                   m=Sum("orders__amount", filter=Q(orders__status="completed"))):
    rows.append({"code": c.code, "name": c.name, "mobile": c.mobile, "email": c.email, "orders": c.n,
                 "spend": str(c.m or 0), "gender": c.gender, "birthday": str(c.birthday or ""),
                 "province": c.province, "city": c.city})
print(json.dumps(rows, ensure_ascii=False))
"""


def stored_customers(store) -> dict[tuple[str, str], dict]:
    """Every customer of the store under each of its keys: code, 11-digit mobile, e-mail, name."""
    found: dict[tuple[str, str], dict] = {}
    for c in json.loads(store.shell(DUMP).strip().splitlines()[-1]):
        for key in (("code", c["code"]), ("mobile", c["mobile"][-11:]), ("email", c["email"]), ("name", c["name"])):
            if key[1]:
                found.setdefault(key, c)
    return found


def test_it_imports_every_platform_export_and_the_ledger_as_orders_per_customer(ready_store):
    outputs = {}
    for name in [*PLATFORM_FILES, "shop_ledger.xlsx"]:
        outputs[name] = ready_store.kehu("import", "--no-progress", str(REAL / name)).stdout
    stored = stored_customers(ready_store)

    for name, expect in [*PLATFORM_FILES.items(), ("shop_ledger.xlsx", ledger)]:
        expected = expect().customers
        assert len(expected) >= 8, name
        wrong = {}
        for key, want in expected.items():
            got = stored.get(key)
            if got is None or (got["orders"], Decimal(got["spend"])) != (want["orders"], want["spend"]):
                wrong[key] = (want["orders"], want["spend"], got and (got["orders"], got["spend"]))
        assert not wrong, f"{name}: {wrong}"

    for name, profile in PROFILE_NAMES.items():  # recognised by its headers, no mapping given
        assert f"识别为“{profile}”订单导出" in outputs[name], outputs[name]
        assert "错误 0 条" in outputs[name], outputs[name]
    # What was counted is said: orders, not lines; cancellations and returns as information, not errors.
    lines = [r for r in xlsx_rows("online_retail.xlsx") if r["CustomerID"]]
    invoices = {str(r["InvoiceNo"]) for r in lines}
    assert f"按订单号把 {len(lines)} 行归为 {len(invoices)} 笔订单" in outputs["online_retail.xlsx"]
    assert "取消/退货单 4 张" in outputs["online_retail.xlsx"]
    assert "没有可识别的买家（匿名购买）" in outputs["online_retail.xlsx"]
    assert "未付款即关闭或取消，未导入" in outputs["taobao_orders.csv"]
    assert "手机号已脱敏" in outputs["taobao_orders.csv"]
    assert "以下 20 列未导入：买家支付宝账号" in outputs["taobao_orders.csv"]
    # A masked phone is never stored as a mobile.
    assert not [c for c in stored.values() if "*" in c["mobile"]]

    # The ledger: each row imported both its customer (once) and its purchase; the bad cells named.
    ledger_out = outputs["shop_ledger.xlsx"]
    assert "第19行【消费金额】 “约两百”不是有效的消费金额" in ledger_out
    assert "第31行【消费日期】 “2024-13-45”不是有效的日期" in ledger_out
    people = {str(r["手机"]): r for r in xlsx_rows("shop_ledger.xlsx")}
    assert f"客户信息：新增 {len(people)}，" in ledger_out
    for phone, row in people.items():
        got = stored[("mobile", phone)]
        assert (got["name"], got["gender"], got["birthday"], got["province"], got["city"]) == (
            row["姓名"], {"男": "male", "女": "female"}[row["性别"]], str(row["生日"].date()), row["省份"],
            row["城市"])


def test_it_counts_a_file_imported_twice_once(ready_store):
    ready_store.kehu("import", "--no-progress", str(REAL / "online_retail.xlsx"))
    again = ready_store.kehu("import", "--no-progress", str(REAL / "online_retail.xlsx")).stdout
    invoices = {str(r["InvoiceNo"]) for r in xlsx_rows("online_retail.xlsx") if r["CustomerID"]}
    assert f"消费记录：新增 0，更新 0，未变 {len(invoices)}，拒绝 0" in again
    stored = stored_customers(ready_store)
    for key, want in online_retail().customers.items():
        assert (stored[key]["orders"], Decimal(stored[key]["spend"])) == (want["orders"], want["spend"])


# ── kehu analyze ────────────────────────────────────────────────────────────────────────────────────────────

RFM_NAMES = ("重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户",
             "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户")


def rfm_classes(expected: dict, as_of: datetime.date) -> dict:
    """The 8-class layer: R, F, M each high when strictly better than the mean over buying customers."""
    buyers = {k: c for k, c in expected.items() if c["orders"]}
    recency = {k: (as_of - c["last"]).days for k, c in buyers.items()}
    mean_r = sum(recency.values()) / len(buyers)
    mean_f = sum(c["orders"] for c in buyers.values()) / len(buyers)
    mean_m = sum(float(c["spend"]) for c in buyers.values()) / len(buyers)
    out = {}
    for k, c in buyers.items():
        r_high, f_high, m_high = recency[k] < mean_r, c["orders"] > mean_f, float(c["spend"]) > mean_m
        out[k] = RFM_NAMES[(not m_high) * 4 + (not r_high) * 2 + (not f_high)]
    return out


@pytest.mark.skipif(ON_POSTGRES, reason="kehu analyze always works in a scratch SQLite file, whatever the store "
                                        "runs on: the SQLite pass covers it")
@pytest.mark.parametrize("name", [*PLATFORM_FILES, "shop_ledger.xlsx"])
def test_kehu_analyze_gives_each_customer_the_orders_spend_and_layer_of_the_file(store, tmp_path, name):
    as_of = datetime.date(2011, 12, 31) if name == "online_retail.xlsx" else datetime.date(2026, 6, 30)
    report = tmp_path / "report.xlsx"
    run = store.kehu("analyze", str(REAL / name), "-o", str(report), "--as-of", as_of.isoformat())
    expected = (PLATFORM_FILES.get(name) or ledger)().customers
    classes = rfm_classes(expected, as_of)
    ws = openpyxl.load_workbook(report, read_only=True)["客户分层"]
    rows = list(ws.iter_rows(values_only=True))
    header = rows[0]
    at = {h: header.index(h) for h in ("客户编号", "姓名", "订单数", "消费总额（元）", "RFM分层")}
    by_key: dict[tuple[str, str], tuple] = {}
    for row in rows[1:]:
        by_key[("code", str(row[at["客户编号"]]))] = row
        by_key.setdefault(("name", row[at["姓名"]]), row)
    names = defaultdict(str)
    if name in ("pdd_orders.csv", "youzan_orders.xlsx", "weidian_orders.csv", "shop_ledger.xlsx",
                "shopify_orders.csv", "woocommerce_orders.csv"):
        names.update(receivers(name))  # customers known by phone or e-mail: find them by their name
    assert len(rows) - 1 == len(expected), run.stdout
    for key, want in expected.items():
        row = by_key[key] if key[0] in ("code", "name") else by_key[("name", names[key])]
        got = (row[at["订单数"]], money(row[at["消费总额（元）"]]), row[at["RFM分层"]] or "")
        assert got == (want["orders"], want["spend"], classes.get(key, "")), (name, key)


@pytest.mark.skipif(ON_POSTGRES, reason="kehu analyze always works in a scratch SQLite file: the SQLite pass covers it")
def test_kehu_analyze_without_as_of_analyses_as_of_the_day_after_the_files_last_purchase(store, tmp_path):
    report = tmp_path / "report.xlsx"
    run = store.kehu("analyze", str(REAL / "online_retail.xlsx"), "-o", str(report))
    last = max(c["last"] for c in online_retail().customers.values() if c["last"])
    day_after = last + datetime.timedelta(days=1)
    assert f"分析日期 {day_after:%Y-%m-%d}：文件中最后一次消费的次日（最后一次消费在 {last:%Y-%m-%d}）" in run.stdout
    book = openpyxl.load_workbook(report, read_only=True)
    params = {r[0]: r[1] for r in book["模型参数"].iter_rows(values_only=True)}
    assert params["分析日期"] == f"{day_after:%Y-%m-%d}"
    header = next(book["客户分层"].iter_rows(values_only=True))
    assert {"流失概率", "预计90天消费天数", "12个月客户价值CLV（元）"} <= set(header)


def receivers(name: str) -> dict[tuple[str, str], str]:
    """key → the customer's name as the file gives it, for files whose key is a phone or an e-mail."""
    if name == "pdd_orders.csv":
        return {phone_or_name(r["手机"], r["收货人"]): r["收货人"] for r in csv_rows(name, "utf-8-sig")}
    if name == "youzan_orders.xlsx":
        return {("mobile", str(r["买家手机号"])): r["收货人/提货人"] for r in xlsx_rows(name)}
    if name == "weidian_orders.csv":
        return {("mobile", r["收货人手机"]): r["收货人姓名"] for r in csv_rows(name, "gbk")}
    if name == "shop_ledger.xlsx":
        return {("mobile", str(r["手机"])): r["姓名"] for r in xlsx_rows(name)}
    if name == "shopify_orders.csv":
        return {("email", r["Email"]): r["Billing Name"] for r in csv_rows(name, "utf-8") if r["Email"]}
    return {("email", r["Email (Billing)"]): f"{r['First Name (Billing)']} {r['Last Name (Billing)']}"
            for r in csv_rows(name, "utf-8")}


# ── the web import wizard ───────────────────────────────────────────────────────────────────────────────────

def _upload(session, name: str):
    page = session.get("/exchange/import/")
    assert page.status_code == 200
    with open(REAL / name, "rb") as f:
        answer = session.post("/exchange/import/", data={"on_duplicate": "update"}, files={"file": (name, f)},
                              allow_redirects=False)
    assert answer.status_code == 302, answer.text[:2000]
    return session.get("/exchange/import/mapping/")


def _selected(page: str, header: str) -> str:
    """The option chosen for a column on the mapping page (its select is labelled by the header)."""
    start = page.index(f'aria-label="{header}"')
    select = page[start:page.index("</select>", start)]
    chosen = select.split(" selected>", 1)
    return chosen[1].split("<", 1)[0] if len(chosen) == 2 else "（不导入）"


def _form_choices(page: str) -> dict[str, str]:
    """What a browser submits from the mapping page: each select's chosen option, as the page shows it."""
    chosen = {}
    for name, body in re.findall(r'<select name="([^"]+)"[^>]*>(.*?)</select>', page, re.S):
        selected = re.search(r'<option value="([^"]*)" selected>', body)
        chosen[name] = selected.group(1) if selected else ""
    return chosen


@pytest.mark.worker
def test_the_wizard_shows_what_each_column_of_a_ledger_and_a_platform_export_becomes(server):
    session = server.session()
    ledger_page = _upload(session, "shop_ledger.xlsx").text
    # One sheet, several kinds: the purchase columns are not dropped, the customer columns come along.
    headers = ["姓名", "手机", "性别", "生日", "省份", "城市", "消费金额", "消费日期"]
    assert [_selected(ledger_page, h) for h in headers] == headers

    page = _upload(session, "taobao_orders.csv").text
    assert "识别为“淘宝/天猫”订单导出" in page
    assert _selected(page, "买家会员名") == "客户编号"
    assert _selected(page, "订单付款时间") == "消费日期"
    assert _selected(page, "订单创建时间") == "下单时间"
    assert _selected(page, "退款金额") == "退款金额"
    assert "不导入的列（20）：买家支付宝账号、买家应付货款" in page

    run = session.post("/exchange/import/mapping/", data={**_form_choices(page), "action": "run"},
                       allow_redirects=False)
    assert run.status_code == 302
    progress = run.headers["Location"]
    deadline = time.monotonic() + 60
    while "/progress/" in progress and time.monotonic() < deadline:
        time.sleep(0.3)
        answer = session.get(progress, allow_redirects=False)
        progress = answer.headers.get("Location", progress) if answer.status_code == 302 else progress
    result = session.get(progress).text
    expected = taobao().customers
    counted = sum(c["orders"] for c in expected.values())
    assert f"计入消费的 {counted} 笔" in result
    assert "未付款即关闭或取消，未导入" in result


def test_a_column_mapping_travels_as_a_file_through_the_command_line(ready_store, tmp_path):
    data = tmp_path / "会员本.xlsx"
    wb = openpyxl.Workbook()
    wb.active.append(["卡号", "顾客", "电话", "城市"])
    wb.active.append(["V01", "钱多多", "13700001111", "杭州市"])
    wb.save(data)
    sheets = [{"kind": "customers", "columns": {"卡号": "code", "顾客": "name", "电话": "mobile", "城市": "city"}}]
    (tmp_path / "会员本.json").write_text(json.dumps({"format": "kehu-import-template", "version": 1,
                                                      "name": "会员本", "sheets": sheets}, ensure_ascii=False))

    run = ready_store.kehu("import", "--no-progress", "--template-file", str(tmp_path / "会员本.json"), str(data))
    assert "已导入模板“会员本”" in run.stdout and "客户信息：新增 1，" in run.stdout
    got = stored_customers(ready_store)[("code", "V01")]
    assert (got["name"], got["mobile"][-11:], got["city"]) == ("钱多多", "13700001111", "杭州市")

    ready_store.kehu("export", "mapping", "--name", "会员本", "-o", str(tmp_path / "out.json"))
    assert json.loads((tmp_path / "out.json").read_text(encoding="utf-8"))["sheets"] == sheets
