"""The shop's currency on the production path: an admin sets it on a live `kehu serve` (系统设置 → 币种); the
customer page, the dashboard, `kehu segment`'s table and the workbooks `kehu export` writes show it; `kehu analyze`
(no store) takes it from --currency and writes it, with the time unit, into its 模型参数 sheet."""

import csv
import datetime
import random
import re

import openpyxl

from .harness import LiveServer

# (customer, days ago, amount): repeat buyers and one-time buyers at irregular gaps, amounts with cents
_rng = random.Random(12)
ORDERS = [(f"HK{c:03d}", days, f"{100 + 37 * c + days}.50") for c in range(1, 81)
          for days in sorted(_rng.sample(range(1, 400), _rng.choice((1, 1, 2, 3, 5, 8))))]


def _csv(path, rows):
    today = datetime.date.today()
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["客户编号", "姓名", "消费日期", "消费金额"])
        for code, days, amount in rows:
            writer.writerow([code, f"客户{code}", (today - datetime.timedelta(days=days)).isoformat(), amount])
    return path


def _text(html: str) -> str:
    return re.sub(r"<[^>]+>", " ", html)


def test_the_currency_set_on_the_page_labels_pages_commands_and_workbooks(ready_store, tmp_path):
    source = _csv(tmp_path / "orders.csv", ORDERS)
    ready_store.kehu("import", "--no-progress", str(source))
    before = ready_store.kehu("segment", "--no-progress").stdout
    assert "消费金额（元）" in before and "¥" in before

    with LiveServer(ready_store) as server:
        admin = server.session()
        page = admin.get("/settings/shop/currency/")
        assert page.status_code == 200 and "港元" in page.text
        saved = admin.post("/settings/shop/currency/", data={"currency": "HKD"}, allow_redirects=False)
        assert saved.status_code == 302
        customer = _text(admin.get("/customers/HK001/").text)
        assert "HK$" in customer and "¥" not in customer
        assert re.search(r"HK\$[\d,]+\.\d\d", customer)  # the key figures
        assert "HK$" in _text(admin.get("/segments/").text)
        settings_hub = admin.get("/settings/").text
        assert 'data-settings="currency"' in settings_hub

    after = ready_store.kehu("segment", "--no-progress").stdout
    assert "消费金额（港元）" in after and "HK$" in after and "¥" not in after

    orders = tmp_path / "orders-out.xlsx"
    ready_store.kehu("export", "orders", "-o", str(orders))
    sheet = openpyxl.load_workbook(orders).active
    assert sheet["D1"].value == "消费金额（港元）"
    assert isinstance(sheet["D2"].value, float | int) and sheet["D2"].number_format.startswith('"HK$"')

    report = tmp_path / "report.xlsx"
    ready_store.kehu("export", "report", "-o", str(report))
    summary = openpyxl.load_workbook(report)["汇总"]
    texts = {c.value for row in summary.iter_rows() for c in row if isinstance(c.value, str)}
    assert {"消费金额（港元）", "消费总额（港元）", "退款额（港元）"} <= texts


def test_analyze_takes_the_currency_from_its_option(ready_store, tmp_path):
    source = _csv(tmp_path / "orders.csv", ORDERS)
    as_of = datetime.date.today().isoformat()
    for option, symbol, unit, code in (([], "¥", "元", "CNY"), (["--currency", "jpy"], "JP¥", "日元", "JPY")):
        out = tmp_path / f"analysis-{code}.xlsx"
        ready_store.kehu("analyze", str(source), "-o", str(out), "--as-of", as_of, *option)
        book = openpyxl.load_workbook(out)
        customers = book["客户分层"]
        header = [c.value for c in customers[1]]
        assert header[4:6] == [f"消费总额（{unit}）", f"平均客单价（{unit}）"] and header[3] == "订单数"
        total = customers["E2"]
        assert isinstance(total.value, float | int)
        assert total.number_format == ("#,##0.00" if code == "CNY" else '"JP¥"#,##0;-"JP¥"#,##0')
        sentences = " ".join(str(r[14].value) for r in customers.iter_rows(min_row=2))
        assert f"累计消费 {symbol}" in sentences
        if code == "JPY":
            assert not re.search(r"JP¥[\d,]+\.\d", sentences)  # yen have no decimals
        params = {r[0].value: r[1].value for r in book["模型参数"].iter_rows(min_row=2) if r[0].value}
        assert params["币种"] == f"{code} {symbol}"
        assert params["时间单位"] == "天"
        notes = " ".join(str(r[2].value) for r in book["模型参数"].iter_rows(min_row=2))
        assert "对数似然（以天为时间单位" in notes
    bad = ready_store.kehu("analyze", str(source), "-o", str(tmp_path / "x.xlsx"), "--currency", "XYZ", check=False)
    assert bad.returncode != 0 and "XYZ" in bad.stderr
