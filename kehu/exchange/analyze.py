"""`kehu analyze`: a workbook in, a segmented report out, for a merchant with no server.

The workbook goes through the very import used everywhere else (same header recognition, same
validation, same duplicate handling) into a scratch SQLite store, then the segmentation engine
(`kehu.segments`: metrics, classify, explain, clv) runs over it. Nothing here computes RFM itself.

    write_analysis("客户.xlsx", "分析.xlsx", as_of=date(2024, 6, 30))
"""

from __future__ import annotations

import contextlib
import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from django.conf import settings
from django.core.management import call_command
from django.db import connections

from kehu.customers.models import Customer, Kind
from kehu.lib import ages, money
from kehu.lib.cells import neutralise
from kehu.lib.dates import today
from kehu.segments.analysis import demographics
from kehu.segments.engine.classify import ABC_CLASSES, LIFECYCLE_STAGES, RF_SEGMENT_NAMES, RFM_CLASSES, classify
from kehu.segments.engine.clv import forecast
from kehu.segments.engine.clv_data import build_summary
from kehu.segments.engine.explain import explain
from kehu.segments.engine.model_check import CHOICE_MARGIN, check_models, group_rows, total_rows
from kehu.segments.models import SegmentSettings
from kehu.segments.pipeline import metrics_frame, read_orders

from .exporters import DATE, style_header
from .importer import ImportResult, import_file

if TYPE_CHECKING:
    import polars as pl
    from openpyxl import Workbook

CUSTOMER_HEADERS = ["客户编号", "姓名", "最近消费日期", "订单数", "消费总额", "平均客单价", "R分", "F分", "M分",
                    "RFM分层", "RF价值矩阵", "ABC分类", "生命周期", "流失概率", "预计90天消费天数",
                    "12个月客户价值CLV", "说明"]
MONEY_HEADERS = {"消费总额", "平均客单价", "客单价", "12个月客户价值CLV"}  # carry the currency's unit: 消费总额（港元）
WIDTHS = [12, 12, 13, 9, 12, 12, 5, 5, 5, 13, 11, 8, 10, 9, 12, 14, 90]
EXPECTED_PURCHASES = "expected_purchases_90d"  # the horizon of the 预计90天消费天数 column


def _headers(names: list[str]) -> list[str]:
    return [money.header_zh(n) if n in MONEY_HEADERS else n for n in names]


def customer_headers() -> list[str]:
    """The 客户分层 sheet's headers, the amounts' with the unit of the report's currency."""
    return _headers(CUSTOMER_HEADERS)


def use_scratch_database(path: Path) -> None:
    """Point the default connection at an empty SQLite file and create the tables (for this process only)."""
    for conn in connections.all(initialized_only=True):
        conn.close()
    connections.settings = connections.configure_settings({"default": {
        "ENGINE": "django.db.backends.sqlite3", "NAME": str(path),
        "OPTIONS": {"init_command": "PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF;"},
    }})
    with contextlib.suppress(AttributeError):  # no connection opened yet in this thread
        del connections["default"]
    settings.DATABASES["default"] = connections.settings["default"]
    call_command("migrate", verbosity=0, interactive=False)


def _header(ws, headers: list[str], widths: list[int] | None = None) -> None:
    from openpyxl.cell import WriteOnlyCell

    cells = []
    for text in headers:
        cell = WriteOnlyCell(ws, value=neutralise(text))
        style_header(cell)
        cells.append(cell)
    for i, w in enumerate(widths or [14] * len(headers)):
        ws.column_dimensions[chr(ord("A") + i)].width = w
    ws.freeze_panes = "A2"
    ws.append(cells)


def _cell(ws, value, fmt: str | None):
    from openpyxl.cell import WriteOnlyCell

    cell = WriteOnlyCell(ws, value=neutralise(value))
    if fmt and value is not None:
        cell.number_format = fmt
    return cell


def _amount(ws, value):
    """An amount cell that shows the currency (kehu analyze --currency) and stays a number."""
    return _cell(ws, value, money.current().number_format)


def analyze(path: str | Path, as_of: datetime.date | None = None, progress=None, sheets=None) -> dict:
    """Import into the (scratch) store and run the engine; returns everything the report needs.

    Without `as_of` the analysis is as of the day after the file's last purchase (today when it has none), so
    an old file is not judged by how long ago it was kept: `as_of_source` says which ("file", "today", "given").
    """
    import polars as pl

    result: ImportResult = import_file(path, progress=progress, unknown_customers="create", sheets=sheets)
    as_of_source = "given"
    if as_of is None:
        last = last_purchase_day()
        as_of_source = "file" if last else "today"
        as_of = last + datetime.timedelta(days=1) if last else today()
    thresholds = SegmentSettings.load()
    classified, refs = classify(metrics_frame(as_of, thresholds), thresholds)
    customers = pl.DataFrame(list(Customer.objects.values_list("pk", "code", "name")), orient="row",
                             schema={"customer_id": pl.Int64, "code": pl.String, "name": pl.String})
    table = customers.join(classified, on="customer_id", how="left").sort("customer_id")

    orders = read_orders(until=_day_after(as_of))
    transactions = orders.select("customer_id", pl.col("ordered_at").alias("date"),
                                 (pl.col("amount_cents") / 100).alias("amount"))
    fitted = check = None
    if len(transactions):
        summary = build_summary(transactions, as_of=as_of, time_unit="days")
        check = check_models(transactions, end=as_of)
        fitted = forecast(summary, time_unit="days", model=check.chosen)
        table = table.join(fitted.table.select("customer_id", "p_alive", EXPECTED_PURCHASES, "clv"),
                           on="customer_id", how="left")
    else:
        table = table.with_columns(*(pl.lit(None, dtype=pl.Float64).alias(c)
                                     for c in ("p_alive", EXPECTED_PURCHASES, "clv")))
    return {"result": result, "table": table, "refs": refs, "thresholds": thresholds, "forecast": fitted,
            "model_check": check, "as_of": as_of, "as_of_source": as_of_source}


def last_purchase_day() -> datetime.date | None:
    """The local day of the last counted order in the (scratch) store, or None."""
    orders = read_orders()
    if not len(orders):
        return None
    return orders["ordered_at"].max().date()


def as_of_note(analysis: dict) -> str:
    """Why the analysis date is what it is, in a sentence for the command's output and the report."""
    if analysis["as_of_source"] == "file":
        return f"文件中最后一次消费的次日（最后一次消费在 {analysis['as_of'] - datetime.timedelta(days=1):%Y-%m-%d}）"
    if analysis["as_of_source"] == "today":
        return "今天（文件中没有消费记录）"
    return "由 --as-of 指定"


def _day_after(day: datetime.date) -> datetime.datetime:
    from kehu.segments.pipeline import day_start

    return day_start(day + datetime.timedelta(days=1))


def write_report(analysis: dict, output: str | Path) -> None:
    import polars as pl
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference

    table: pl.DataFrame = analysis["table"]
    refs, thresholds, fitted = analysis["refs"], analysis["thresholds"], analysis["forecast"]
    wb = Workbook(write_only=True)

    ws = wb.create_sheet("客户分层")
    _header(ws, customer_headers(), WIDTHS)
    for row in table.iter_rows(named=True):
        bought = row.get("last_order_at") is not None
        monetary = (row["monetary_cents"] or 0) / 100 if bought else 0
        last = row["last_order_at"].date() if bought else None
        p_alive = row.get("p_alive")
        expected, clv = row.get(EXPECTED_PURCHASES), row.get("clv")
        ws.append([neutralise(v) for v in [
            row["code"], row["name"], _cell(ws, last, DATE), row["frequency"] or 0 if bought else 0,
            _amount(ws, monetary), _amount(ws, row["avg_order_value"] if bought else None),
            row.get("r_score"), row.get("f_score"), row.get("m_score"), row.get("rfm_class") or "",
            row.get("rf_segment") or "", row.get("abc_class") or "", row.get("lifecycle") or "",
            _cell(ws, None if p_alive is None or not bought else round(1 - p_alive, 4), "0.0%"),
            _cell(ws, None if expected is None or not bought else round(expected, 2), "0.00"),
            _amount(ws, None if clv is None or not bought else round(clv, 2)),
            explain(row, refs, thresholds),
        ]])
    ws.auto_filter.ref = f"A1:Q{len(table) + 1}"

    ws = wb.create_sheet("分层汇总")
    _header(ws, _headers(["分类方式", "分层", "客户数", "消费总额", "客户占比", "消费额占比"]), [10, 14, 9, 14, 10, 10])
    buyers = table.filter(pl.col("last_order_at").is_not_null())
    total_customers = len(table) or 1
    total_revenue = (buyers["monetary_cents"].sum() or 0) / 100 or 1
    groups = [("RFM分层", "rfm_class", RFM_CLASSES), ("RF价值矩阵", "rf_segment", RF_SEGMENT_NAMES),
              ("ABC分类", "abc_class", ABC_CLASSES), ("生命周期", "lifecycle", LIFECYCLE_STAGES)]
    row_no = 1
    chart_rows = (0, 0)
    for label, column, names in groups:
        start = row_no + 1
        for name in names:
            members = table.filter(pl.col(column) == name)
            revenue = (members["monetary_cents"].fill_null(0).sum() or 0) / 100
            ws.append([label, name, len(members), _amount(ws, revenue),
                       _cell(ws, len(members) / total_customers, "0.0%"),
                       _cell(ws, revenue / total_revenue, "0.0%")])
            row_no += 1
        if column == "rfm_class":
            chart_rows = (start, row_no)
    chart = BarChart()
    chart.type, chart.title, chart.y_axis.title = "bar", "RFM分层客户数", "客户数"
    chart.add_data(Reference(ws, min_col=3, min_row=chart_rows[0], max_row=chart_rows[1]), titles_from_data=False)
    chart.set_categories(Reference(ws, min_col=2, min_row=chart_rows[0], max_row=chart_rows[1]))
    chart.legend = None
    chart.height, chart.width = 9, 16
    ws.add_chart(chart, "H2")

    ws = wb.create_sheet("导入问题")
    _header(ws, ["工作表", "行号", "列", "值", "级别", "说明"], [14, 7, 12, 20, 6, 70])
    for p in analysis["result"].problems:
        ws.append([neutralise(v) for v in (p.sheet, p.row or None, p.column, p.value, p.level_label, p.message)])

    ws = wb.create_sheet("模型参数")
    _header(ws, ["参数", "值", "说明"], [28, 22, 60])
    ws.append(["分析日期", analysis["as_of"].isoformat(),
               f"{as_of_note(analysis)}；最近消费天数、流失概率、预计消费天数与客户价值都按此日计算"])
    currency = money.current()
    ws.append(["币种", f"{currency.code} {currency.symbol}",
               f"报告中的金额以{currency.name}（{currency.symbol}）表示；只标注币种，不换算"
               "（kehu analyze --currency）"])
    ws.append(["时间单位", "天", "模型以天为时间单位：参数、对数似然都按天计算；"
               "一天内多笔订单算一次消费（1 个消费天数）"])
    ws.append(["预计消费天数", "未来 90 天", "按选用的购买模型预计有消费的天数（一天内多笔订单算一天）"])
    ws.append(["客户价值CLV", "未来 12 个月", "预计消费天数 × Gamma-Gamma 预计客单价（营业额，非利润），每月折现 1%"])
    if fitted is None:
        ws.append(["MBG/NBD", "未拟合", "没有可用的消费记录，无法拟合流失与价值模型"])
    else:
        for model in (fitted.purchases, fitted.spend):
            name = model.model
            for r in model.to_rows():
                if r["key"] == "model":
                    continue
                value = r["value"]
                if isinstance(value, float):
                    value = round(value, 6)
                ws.append([f"{name} {r['key']}", value, r["label"]])
    if analysis.get("model_check") is not None:
        _model_check_sheet(wb, analysis["model_check"].to_dict())
    _demographics_sheet(wb, table, analysis["as_of"])
    wb.save(output)


def _model_check_sheet(wb: Workbook, check: dict) -> None:
    """模型检验: each purchase model's forecast of the holdout against what the customers did."""
    ws = wb.create_sheet("模型检验")
    if not check["checked"]:
        _header(ws, ["模型检验", "说明"], [14, 80])
        ws.append(["未检验", f"{check['reason']}；流失与价值预测使用默认模型 {check['chosen']}"])
        return
    _header(ws, ["模型", "检验期预测", "检验期实际", "误差", "说明"], [22, 14, 14, 10, 70])
    chosen_note = f"选用（默认 MBG/NBD；Pareto/NBD 的检验期误差小 {CHOICE_MARGIN} 个百分点以上时改用它）"
    for name, predicted, actual, error, chosen, candidate, reason, _en in total_rows(check):
        note = reason or (chosen_note if chosen else
                          "" if candidate else "仅作对照：该模型认为只买过一次的客户一定仍活跃")
        ws.append([name, _cell(ws, predicted, "#,##0.0"), actual, _cell(ws, error, "+0.0%;-0.0%"), note])
    ws.append([])
    ws.append(["校准期", f"{check['start']} 至 {check['calibration_end']}", None, None,
               f"每个模型只用校准期的记录拟合；检验期 {check['holdout_days']} 天至 {check['end']}，"
               f"{check['customers']} 位校准期已消费客户；一天内多笔订单算一次消费"])
    ws.append([])
    models = [m["model"] for m in check["models"]]
    ws.append(["校准期重复消费天数", "客户数", "检验期实际", *(f"{m} 预测" for m in models)])
    for row in group_rows(check):
        ws.append([row[0], row[1], row[2], *(_cell(ws, v, "#,##0.0") for v in row[3:])])
    ws.append([])
    ws.append(["周末日期", "累计实际", None, *(f"{m} 累计预测" for m in models)])
    predicted = {m["model"]: m["predicted_cumulative"] for m in check["models"] if m["fitted"]}
    for i, week in enumerate(check["weeks"]):
        ws.append([week, check["actual_cumulative"][i], None,
                   *(_cell(ws, predicted[m][i], "#,##0.0") if m in predicted else None for m in models)])


DEMOGRAPHIC_GENDERS = {"male": "男", "female": "女", "": "未知"}


def _demographics_sheet(wb: Workbook, table: pl.DataFrame, as_of: datetime.date) -> None:
    """年龄与性别: customers, revenue, orders, average order value and the RFM classes per age band × gender of the
    individual customers, the band from each birthday on the analysis date (the scratch store is this command's
    own: read once, here)."""
    bands = SegmentSettings.load_age_bands()
    people = {pk: (gender, bands.key_of(birthday, as_of)) for pk, gender, birthday in
              Customer.objects.filter(kind=Kind.PERSON).values_list("pk", "gender", "birthday")}
    rows = []
    for row in table.iter_rows(named=True):
        if row["customer_id"] not in people:  # a company has no age or gender
            continue
        gender, band = people[row["customer_id"]]
        bought = row.get("last_order_at") is not None
        rows.append((band, gender, row.get("rfm_class") or "", 1,
                     (row["monetary_cents"] or 0) / 100 if bought else 0, row["frequency"] or 0 if bought else 0))
    cells = demographics(rows, bands.keys, tuple(DEMOGRAPHIC_GENDERS), RFM_CLASSES)
    ws = wb.create_sheet("年龄与性别")
    _header(ws, _headers(["年龄段", "性别", "客户数", "消费总额", "订单数", "客单价", *RFM_CLASSES, "无消费"]),
            [8, 6, 8, 13, 8, 11, *[12] * len(RFM_CLASSES), 8])
    for c in (c for c in cells if c["customers"]):
        ws.append([neutralise(ages.label(c["band"])), neutralise(DEMOGRAPHIC_GENDERS.get(c["gender"], c["gender"])),
                   c["customers"],
                   _amount(ws, c["revenue"]), c["orders"], _amount(ws, c["avg_order_value"]),
                   *c["classes"].values()])
    ws.append([])
    ws.append([f"年龄段按生日在分析日期 {as_of:%Y-%m-%d} 的周岁计算（分界 {bands.text()}）；没有生日的客户为“未知”；"
               f"只统计个人客户，企业客户不计入"])
