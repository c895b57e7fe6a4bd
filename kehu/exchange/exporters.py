"""Workbooks and CSV files out: customers (the list's current filter), orders, a report with live formulas and
charts, and blank import templates with Excel data validation.

Files are written in the language active when they are written (the user's on the web, `kehu export --lang`):
headers are the fields' labels (headers.LABELS), sheet names the kinds' names (headers.KINDS) and choices the
models' labels, all translated; the importer recognises each of them in every language kehu speaks, so an
English export imports back as a Chinese one does.

Every customer export goes through `Customer.contact_for(user)`, so a role that sees masked contact
details on screen gets them masked in the file too; the querysets come from the caller, already limited by
`visible_to(user)` and the CustomerFilter (same rows as the list page).
"""

from __future__ import annotations

import csv
import datetime
import re
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from decimal import Decimal
from typing import IO, TYPE_CHECKING, Any

from django.db.models import Prefetch, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop

from kehu.customers import columns
from kehu.customers.filters import sort_ordering
from kehu.customers.models import CompanySize, Customer, CustomField, Gender, Grade, Kind
from kehu.engagement.models import CommunicationMethod, MarketingChannel
from kehu.lib import money
from kehu.lib.cells import neutralise
from kehu.lib.labels import class_label
from kehu.lib.pagination import keyset_page
from kehu.sales.models import Order, OrderLine, OrderStatus, PaymentMethod, SalesChannel
from kehu.segments.engine.classify import RFM_CLASSES

from . import headers as h
from .values import NO, YES, to_second

if TYPE_CHECKING:
    from openpyxl.worksheet.datavalidation import DataValidation

DATE = "yyyy-mm-dd"
DATETIME = "yyyy-mm-dd hh:mm:ss"  # seconds shown, so a program saving the sheet as CSV keeps them
MONEY = "#,##0.00"


def style_header(cell) -> None:
    """A header cell: white bold text on blue."""
    from openpyxl.styles import Font, PatternFill

    cell.font, cell.fill = Font(bold=True, color="FFFFFF"), PatternFill("solid", fgColor="4472C4")


@dataclass
class Column:
    header: str | Promise  # a lazy label is written in the language active when the file is written
    width: int = 12
    number_format: str | None = None
    field: str | None = None  # the import field the header names (headers.FIELDS), if any


def field_column(field: str, width: int = 12, number_format: str | None = None) -> Column:
    """A column an import reads back: its header is the field's label (headers.LABELS), translated."""
    return Column(gettext_lazy(h.LABELS[field]), width, number_format, field)


CUSTOMER_COLUMNS = [
    *(field_column(f, w, fmt) for f, w, fmt in (
        ("code", 12, None), ("name", 12, None), ("kind", 8, None), ("gender", 6, None), ("birthday", 12, DATE),
        ("mobile", 15, None), ("email", 24, None), ("wechat", 14, None), ("province", 10, None),
        ("city", 10, None), ("district", 10, None), ("address", 30, None), ("registered_at", 19, DATETIME),
        ("source", 10, None), ("company", 20, None), ("industry", 10, None), ("company_size", 10, None),
        ("grade", 8, None), ("owner", 10, None), ("tag_names", 18, None), ("notes", 24, None))),
    Column(gettext_lazy("RFM分层"), 13), Column(gettext_lazy("RF价值矩阵"), 11), Column(gettext_lazy("生命周期"), 10),
]
RFM_COLUMN = 22  # RFM分层, counted per class in the report
ORDER_COLUMNS = [field_column(f, w, fmt) for f, w, fmt in (
    ("code", 12, None), ("name", 12, None), ("ordered_at", 19, DATETIME), ("amount", 12, MONEY),
    ("product", 24, None), ("category", 12, None), ("payment_method", 10, None), ("sales_channel", 10, None),
    ("number", 16, None), ("status", 8, None), ("note", 20, None))]
AMOUNT_COLUMN = 3  # 消费金额


def money_format() -> str:
    """Amount cells show the shop's currency symbol (系统设置 → 币种) and stay numbers."""
    return money.current().number_format


def order_columns() -> list[Column]:
    """ORDER_COLUMNS with the amount in the shop's currency: header "消费金额（港元）" / "Revenue (HKD)" (an import
    still reads it: the unit in brackets is ignored), cells "HK$1,200.00"."""
    columns = list(ORDER_COLUMNS)
    amount = columns[AMOUNT_COLUMN]
    columns[AMOUNT_COLUMN] = Column(money.header(str(amount.header)), amount.width + 2, money_format(), amount.field)
    return columns


def _local(value: datetime.datetime | None) -> datetime.datetime | None:
    """Local wall-clock time to the second (what Excel shows and what an import reads back)."""
    return to_second(timezone.localtime(value)).replace(tzinfo=None) if value else None


def _date(text: str) -> datetime.date | str:
    """contact_for gives ISO text (or a masked '****-05-01'): a real date where it is one."""
    try:
        return datetime.date.fromisoformat(text)
    except ValueError:
        return text


# ── rows ──────────────────────────────────────────────────────────────────────────────────────

def joined(items: Iterable[str]) -> str:
    """Several names in one cell: 老客户、VIP in Chinese, "Regular, VIP" in English (the importer splits both)."""
    return _("、").join(items)


def customer_columns() -> tuple[list[Column], list[CustomField]]:
    custom = list(CustomField.objects.all())
    return CUSTOMER_COLUMNS + [Column(cf.label, 12, "General" if cf.type == CustomField.Type.NUMBER else None)
                               for cf in custom], custom


def _custom_value(cf: CustomField, extra: dict):
    """A custom field's value; a number field's as a number (a −1 stays a number, not text)."""
    value = extra.get(cf.key, "")
    if cf.type == CustomField.Type.NUMBER and value not in (None, ""):
        try:
            return Decimal(str(value))
        except ArithmeticError:
            return value
    return value


def customer_rows(qs: QuerySet, user, custom: list[CustomField]) -> Iterator[list]:
    """One list per customer in column order, contact fields as `user` may see them."""
    qs = qs.select_related("owner", "segment").prefetch_related("tags").order_by("id")
    for c in qs.iterator(chunk_size=2000):
        contact = c.contact_for(user)
        segment = getattr(c, "segment", None)
        yield [
            c.code, c.name, Kind(c.kind).label if c.kind in Kind.values else c.kind,
            Gender(c.gender).label if c.gender else "", _date(contact["birthday"]) if contact["birthday"] else None,
            contact["mobile"], contact["email"], contact["wechat"], c.province, c.city, c.district,
            contact["address"], _local(c.registered_at), c.source, c.company, c.industry,
            CompanySize(c.company_size).label if c.company_size in CompanySize.values else c.company_size,
            c.grade, c.owner.display_name if c.owner else "", joined(t.name for t in c.tags.all()), c.notes,
            class_label(segment.rfm_class) if segment else "", class_label(segment.rf_segment) if segment else "",
            class_label(segment.lifecycle) if segment else "",
            *[_custom_value(cf, c.extra or {}) for cf in custom],
        ]


def order_rows(qs: QuerySet) -> Iterator[list]:
    lines = OrderLine.objects.select_related("category").order_by("id")
    qs = qs.select_related("customer").prefetch_related(Prefetch("lines", queryset=lines)).order_by("ordered_at", "id")
    for o in qs.iterator(chunk_size=2000):
        items = list(o.lines.all())
        categories = list(dict.fromkeys(line.category.name for line in items if line.category))
        yield [
            o.customer.code, o.customer.name, _local(o.ordered_at), o.amount,
            joined(line.product_name for line in items), joined(categories),
            PaymentMethod(o.payment_method).label if o.payment_method in PaymentMethod.values else o.payment_method,
            SalesChannel(o.sales_channel).label if o.sales_channel in SalesChannel.values else o.sales_channel,
            o.number, OrderStatus(o.status).label if o.status in OrderStatus.values else o.status, o.note,
        ]


# ── writing ───────────────────────────────────────────────────────────────────────────────────

_progress: ContextVar[Callable[[int], None] | None] = ContextVar("kehu_export_progress", default=None)
PROGRESS_ROWS = 500  # rows between two reports to `reporting`'s callback


@contextmanager
def reporting(progress: Callable[[int], None]):
    """Call `progress(n)` as the tables written inside are n rows further (a background export's rows done)."""
    token = _progress.set(progress)
    try:
        yield
    finally:
        _progress.reset(token)


def _counted(rows: Iterable[list]) -> Iterator[list]:
    report = _progress.get()
    if report is None:
        yield from rows
        return
    n = 0
    for n, row in enumerate(rows, start=1):
        yield row
        if n % PROGRESS_ROWS == 0:
            report(PROGRESS_ROWS)
    report(n % PROGRESS_ROWS)


# ── writing (the tables) ──────────────────────────────────────────────────────────────────────────────

def _text_cell(ws, value: str) -> str:
    """Text typed by someone, kept as text: formula-like text escaped (kehu.lib.cells.neutralise); control
    characters a worksheet cannot hold (possible from an old CSV) are dropped instead of failing."""
    from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE

    return neutralise(ILLEGAL_CHARACTERS_RE.sub("", value))


def _header(ws, columns: list[Column]) -> None:
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment
    from openpyxl.utils import get_column_letter

    cells = []
    for col in columns:
        cell = WriteOnlyCell(ws, value=_text_cell(ws, str(col.header)))  # custom-field labels are typed by users
        style_header(cell)
        cell.alignment = Alignment(horizontal="center")
        cells.append(cell)
    for i, col in enumerate(columns, start=1):
        ws.column_dimensions[get_column_letter(i)].width = col.width
    ws.freeze_panes = "A2"
    ws.append(cells)


def write_table(ws, columns: list[Column], rows: Iterable[list]) -> int:
    """Header, rows with number/date formats, frozen header and autofilter; returns the row count."""
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.utils import get_column_letter

    _header(ws, columns)
    formats = [c.number_format for c in columns]
    count = 0
    for row in _counted(rows):
        out: list[Any] = []
        for value, fmt in zip(row, formats, strict=False):
            if isinstance(value, Promise):  # a label in the exporting user's language
                value = str(value)
            if fmt and value not in (None, "") and not isinstance(value, str):
                cell = WriteOnlyCell(ws, value=float(value) if isinstance(value, Decimal) else value)
                cell.number_format = fmt
                out.append(cell)
            elif isinstance(value, str):
                out.append(_text_cell(ws, value))
            else:
                out.append(value)
        out.extend(_text_cell(ws, str(v)) if isinstance(v, str | Promise) else v for v in row[len(formats):])
        ws.append(out)
        count += 1
    ws.auto_filter.ref = f"A1:{get_column_letter(len(columns))}{count + 1}"
    return count


def sheet_name(kind: str) -> str:
    """The sheet of `kind` as kehu names it (客户信息, Customers): the importer knows the name in every language."""
    return _(h.KINDS[kind])


def export_customers_xlsx(qs: QuerySet, user, target: str | IO[bytes]) -> int:
    from openpyxl import Workbook

    columns, custom = customer_columns()
    wb = Workbook(write_only=True)
    count = write_table(wb.create_sheet(sheet_name(h.CUSTOMERS)), columns, customer_rows(qs, user, custom))
    wb.save(target)
    return count


def export_orders_xlsx(qs: QuerySet, target: str | IO[bytes]) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    count = write_table(wb.create_sheet(sheet_name(h.PURCHASES)), order_columns(), order_rows(qs))
    wb.save(target)
    return count


def csv_value(value: object) -> str:
    """One CSV cell: dates as ISO text, formula-like text escaped (a CSV cell has no type to protect it)."""
    if value is None:
        return ""
    if isinstance(value, datetime.datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return neutralise(value) if isinstance(value, str) else str(value)


def write_csv(target: IO[str], columns: list[Column], rows: Iterable[list]) -> int:
    """UTF-8 with BOM (the caller opens `target` with encoding='utf-8-sig') so Excel shows Chinese right."""
    writer = csv.writer(target)
    writer.writerow([csv_value(str(c.header)) for c in columns])
    count = 0
    for row in _counted(rows):
        writer.writerow([csv_value(v) for v in row])
        count += 1
    return count


def export_customers_csv(qs: QuerySet, user, target: IO[str]) -> int:
    columns, custom = customer_columns()
    return write_csv(target, columns, customer_rows(qs, user, custom))


# ── the customer list as shown: the chosen columns (customers.columns) in the list's sort ─────────────────

def list_columns(keys: list[str]) -> list[Column]:
    formats = {"total_spend": MONEY, "average": MONEY, "clv": MONEY, "value_at_risk": MONEY,
               "last_purchase": DATETIME, "registered_at": DATETIME}
    return [Column(columns.header(key), 16 if key in formats else 12, formats.get(key)) for key in keys]


def list_rows(qs: QuerySet, user, keys: list[str], sort: str) -> Iterator[list]:
    """The list's rows for `keys`, in the list's order (key-set pages of 2,000, so memory stays flat)."""
    qs = columns.with_columns(qs, keys)
    cursor = ""
    while True:
        page = keyset_page(qs, sort_ordering(sort), cursor, 2000)
        for c in page.items:
            contact = c.contact_for(user) if "mobile" in keys else {}
            row = []
            for key in keys:
                value = columns.cell(c, key, contact)
                if isinstance(value, datetime.datetime):
                    value = _local(value)
                elif isinstance(value, list):
                    value = joined(value)
                row.append(value)
            yield row
        if not page.has_next:
            return
        cursor = page.next_cursor


def export_customer_list_xlsx(qs: QuerySet, user, keys: list[str], sort: str, target: str | IO[bytes]) -> int:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    count = write_table(wb.create_sheet(_("客户列表")), list_columns(keys), list_rows(qs, user, keys, sort))
    wb.save(target)
    return count


def export_customer_list_csv(qs: QuerySet, user, keys: list[str], sort: str, target: IO[str]) -> int:
    return write_csv(target, list_columns(keys), list_rows(qs, user, keys, sort))


def export_orders_csv(qs: QuerySet, target: IO[str]) -> int:
    return write_csv(target, order_columns(), order_rows(qs))


# ── the report: data sheets plus a summary of live formulas and charts ───────────────────────

def _months(first: datetime.date, last: datetime.date) -> list[datetime.date]:
    months, day = [], first.replace(day=1)
    while day <= last:
        months.append(day)
        day = (day.replace(day=28) + datetime.timedelta(days=4)).replace(day=1)
    return months


def _column_ref(sheet: str, column: int) -> str:
    """客户信息!$I:$I; a sheet name other than letters and digits in quotes: 'Customer list'!$I:$I."""
    from openpyxl.utils import get_column_letter

    letter = get_column_letter(column)
    name = sheet if re.fullmatch(r"\w+", sheet) else "'" + sheet.replace("'", "''") + "'"
    return f"{name}!${letter}:${letter}"


def export_report_xlsx(customers: QuerySet, orders: QuerySet, user, target: str | IO[bytes]) -> dict:
    """客户信息 and 消费记录 as tables, 汇总 with SUMIFS/COUNTIFS over them and native charts."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.chart import BarChart, LineChart, Reference
    from openpyxl.styles import Font

    columns, custom = customer_columns()
    wb = Workbook(write_only=True)
    summary = wb.create_sheet(_("汇总"))
    customer_sheet, order_sheet = sheet_name(h.CUSTOMERS), sheet_name(h.PURCHASES)
    n_customers = write_table(wb.create_sheet(customer_sheet), columns, customer_rows(customers, user, custom))
    n_orders = write_table(wb.create_sheet(order_sheet), order_columns(), order_rows(orders))
    amount_format = money_format()

    bounds = orders.order_by("ordered_at").values_list("ordered_at", flat=True)
    first, last = bounds.first(), orders.order_by("-ordered_at").values_list("ordered_at", flat=True).first()
    months = _months(timezone.localdate(first), timezone.localdate(last)) if first else []
    provinces = list(customers.exclude(province="").order_by("province").values_list("province", flat=True)
                     .distinct())

    date_col, amount_col, status_col = (_column_ref(order_sheet, n) for n in (3, 4, 10))
    # Counted like the dashboard: completed orders are purchases; refunded ones are shown on their own.
    completed = f'{status_col},"{OrderStatus.COMPLETED.label}"'
    refunded = f'{status_col},"{OrderStatus.REFUNDED.label}"'
    customers_count = f'COUNTIFS({_column_ref(customer_sheet, 1)},"<>")-1'   # the header row is not a customer
    grade_col, province_col = _column_ref(customer_sheet, 18), _column_ref(customer_sheet, 9)
    summary.column_dimensions["A"].width = 14
    summary.column_dimensions["B"].width = 14
    for letter in "CDE":
        summary.column_dimensions[letter].width = 11
    rows: list[list] = []

    def title(text):
        cell = WriteOnlyCell(summary, value=text)
        cell.font = Font(bold=True, size=12)
        return cell

    def head(*texts):
        out = []
        for t in texts:
            cell = WriteOnlyCell(summary, value=t)
            style_header(cell)
            out.append(cell)
        return out

    rows.append([title(_("按月消费（公式随数据更新）"))])
    # not import headers: 汇总 is skipped
    rows.append(head(_("月份"), money.header(_("消费金额")), _("订单数"), money.header(_("退款额")), _("退款笔数")))
    month_start = len(rows) + 1
    for m in months:
        r = len(rows) + 1
        month = WriteOnlyCell(summary, value=m)
        month.number_format = "yyyy-mm"
        within = f'{date_col},">="&A{r},{date_col},"<"&DATE(YEAR(A{r}),MONTH(A{r})+1,1)'
        amount = WriteOnlyCell(summary, value=f"=SUMIFS({amount_col},{within},{completed})")
        refund = WriteOnlyCell(summary, value=f"=SUMIFS({amount_col},{within},{refunded})")
        amount.number_format = refund.number_format = amount_format
        rows.append([month, amount, f"=COUNTIFS({within},{completed})", refund, f"=COUNTIFS({within},{refunded})"])
    month_end = len(rows)
    rows.append([])
    rows.append([title(_("按客户评级"))])
    rows.append(head(_("客户评级"), _("客户数")))
    grade_start = len(rows) + 1
    for grade in [*Grade.values, ""]:
        r = len(rows) + 1
        rows.append([grade or _("未评级"), f'=COUNTIFS({grade_col},"{grade}")' if grade else
                     f"={customers_count}-SUM(B{grade_start}:B{r - 1})"])
    grade_end = len(rows)
    rows.append([])
    rows.append([title(_("按RFM分层"))])
    rows.append(head(_("RFM分层"), _("客户数")))
    rfm_col = _column_ref(customer_sheet, RFM_COLUMN)
    for name in RFM_CLASSES:
        r = len(rows) + 1
        rows.append([class_label(name), f"=COUNTIFS({rfm_col},A{r})"])
    rows.append([])
    rows.append([title(_("按省份"))])
    rows.append(head(_("省份"), _("客户数")))
    for province in provinces:
        r = len(rows) + 1
        rows.append([neutralise(province), f"=COUNTIFS({province_col},A{r})"])
    rows.append([])
    rows.append([title(_("合计"))])
    rows.append([_("客户数"), f"={customers_count}"])
    rows.append([money.header(_("消费总额")), f"=SUMIFS({amount_col},{completed})"])
    rows.append([_("订单数"), f"=COUNTIFS({completed})"])
    rows.append([money.header(_("退款额")), f"=SUMIFS({amount_col},{refunded})"])
    rows.append([_("退款笔数"), f"=COUNTIFS({refunded})"])
    for row in rows:
        summary.append(row)

    if months:
        chart = LineChart()
        chart.title, chart.y_axis.title, chart.x_axis.title = _("按月消费金额"), money.header(_("金额")), _("月份")
        chart.add_data(Reference(summary, min_col=2, min_row=month_start - 1, max_row=month_end), titles_from_data=True)
        chart.set_categories(Reference(summary, min_col=1, min_row=month_start, max_row=month_end))
        chart.x_axis.number_format = "yyyy-mm"
        chart.height, chart.width = 8, 16
        summary.add_chart(chart, "G2")
    bars = BarChart()
    bars.title, bars.y_axis.title = _("各评级客户数"), _("客户数")
    bars.add_data(Reference(summary, min_col=2, min_row=grade_start - 1, max_row=grade_end), titles_from_data=True)
    bars.set_categories(Reference(summary, min_col=1, min_row=grade_start, max_row=grade_end))
    bars.height, bars.width = 8, 16
    summary.add_chart(bars, "G20")
    wb.save(target)
    return {"customers": n_customers, "orders": n_orders, "months": len(months)}


# ── blank templates ───────────────────────────────────────────────────────────────────────────

# The template's cells give hints, never refuse: the importer reads more than any Excel rule can say
# (1200元, ¥1,200.00, 2024年1月5日, 138 1234 5678, 微信转账 …), so a rule that stopped a person typing them
# would contradict the instructions. Lists keep their drop-down; every hint shows when the cell is selected.

def _hint(title: str, prompt: str) -> DataValidation:
    from openpyxl.worksheet.datavalidation import DataValidation

    dv = DataValidation(allow_blank=True, showErrorMessage=False, showInputMessage=True)
    dv.promptTitle, dv.prompt = _(title), _(prompt)
    return dv


_LIST_PROMPT = gettext_noop("可从下拉列表选择，也可填写其他常见说法")


def _list(values: Iterable, prompt: str = _LIST_PROMPT) -> DataValidation:
    """A drop-down of `values` (labels in the user's language): an Excel list cannot hold a comma, so "1,000" is
    written "1000" (the importer reads both)."""
    from openpyxl.worksheet.datavalidation import DataValidation

    items = (_THOUSANDS.sub("", str(v)) for v in values)
    dv = DataValidation(type="list", formula1='"' + ",".join(items) + '"', allow_blank=True,
                        showErrorMessage=False, showInputMessage=True)
    dv.promptTitle, dv.prompt = _("可选值"), _(prompt)
    return dv


_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")


def _mobile() -> DataValidation:
    return _hint(gettext_noop("手机号码"),
                 gettext_noop("11 位手机号码，如 13812345678；也可写 138 1234 5678 或 +86 13812345678"))


def _not_future() -> DataValidation:
    return _hint(gettext_noop("日期"), gettext_noop("如 2024-01-05、2024/1/5 或 2024年1月5日；不能晚于今天"))


def _positive() -> DataValidation:
    return _hint(gettext_noop("金额"), gettext_noop("如 1200、¥1,200.00 或 1200元；不能为负数"))


def _quantity() -> DataValidation:
    return _hint(gettext_noop("数量"), gettext_noop("如 1、2.5；不能为负数"))


TEXT_COLUMNS = {"code", "mobile", "number"}  # text-formatted, so Excel keeps leading zeros and long numbers whole
MONEY_COLUMNS = {"amount"}


def _width(value: object) -> int:
    """How wide a value shows (a Chinese character takes two widths)."""
    text = f"{value:%Y-%m-%d}" if isinstance(value, datetime.date) else str(value or "")
    return sum(2 if ord(ch) > 0x2E80 else 1 for ch in text)


_EXAMPLE_DAY = datetime.date(2024, 5, 1)
_CODE, _NAME = ("code", "VIP0001", None), ("name", gettext_lazy("王芳"), None)
TEMPLATES: dict[str, list[tuple[str, object, Any]]] = {
    # kind: [(field, example value in the user's language, validation factory or None)]
    h.CUSTOMERS: [
        _CODE, _NAME, ("gender", Gender.FEMALE.label, lambda: _list([Gender.MALE.label, Gender.FEMALE.label])),
        ("birthday", datetime.date(1990, 5, 1), _not_future), ("mobile", "13812345678", _mobile),
        ("email", "wangfang@example.com", None), ("wechat", "wangfang88", None),
        ("province", gettext_lazy("广东省"), None), ("city", gettext_lazy("深圳市"), None),
        ("district", gettext_lazy("南山区"), None), ("address", gettext_lazy("科技园路1号"), None),
        ("registered_at", _EXAMPLE_DAY, _not_future), ("source", SalesChannel.STORE.label, None),
        ("company", "", None), ("industry", "", None), ("company_size", "", lambda: _list(CompanySize.labels)),
        ("grade", "A", lambda: _list(Grade.values)), ("tag_names", gettext_lazy("老客户、VIP"), None),
        ("notes", "", None),
    ],
    h.PURCHASES: [
        _CODE, _NAME, ("ordered_at", _EXAMPLE_DAY, _not_future), ("amount", 1200, _positive),
        ("product", gettext_lazy("连衣裙"), None), ("category", gettext_lazy("服装"), None),
        ("quantity", 1, _quantity),
        ("payment_method", PaymentMethod.WECHAT_PAY.label,
         lambda: _list(PaymentMethod.labels, gettext_noop("可从下拉列表选择，也可写 微信转账、刷卡 等说法"))),
        ("sales_channel", SalesChannel.STORE.label, lambda: _list(SalesChannel.labels)),
        ("number", "DD20240501001", None), ("note", "", None),
    ],
    h.PREFERENCES: [
        _CODE, _NAME, ("categories", gettext_lazy("服装、化妆品"), None),
        ("preferred_channel", MarketingChannel.WECHAT.label, lambda: _list(MarketingChannel.labels)),
        ("consent", gettext_lazy(YES), lambda: _list([_(YES), _(NO)])), ("pref_notes", "", None),
    ],
    h.COMMUNICATIONS: [
        _CODE, _NAME, ("occurred_at", _EXAMPLE_DAY, _not_future),
        ("method", CommunicationMethod.WECHAT.label,
         lambda: _list(CommunicationMethod.labels, gettext_noop("可从下拉列表选择，也可写 电联、当面 等说法"))),
        ("content", gettext_lazy("介绍夏季新品"), None),
        ("outcome", gettext_lazy("有兴趣，下周到店"), None), ("next_follow_up", datetime.date(2024, 5, 8), None),
    ],
    h.FEEDBACK: [
        _CODE, _NAME, ("received_at", _EXAMPLE_DAY, _not_future), ("comment", gettext_lazy("服务很好"), None),
    ],
}
TEMPLATE_ROWS = 1000  # validations cover this many rows below the header


def template_workbook(kind: str, target: str | IO[bytes]) -> None:
    """A blank sheet for one kind: the fields' labels as headers, one example row, validation on the first
    1000 rows; all in the language active (the importer reads either)."""
    from openpyxl import Workbook
    from openpyxl.utils import get_column_letter

    from kehu.engagement.models import FeedbackDimension

    spec: list[tuple[str, object, Any]] = [(str(gettext_lazy(h.LABELS[f])), example, make)
                                           for f, example, make in TEMPLATES[kind]]
    fields = [f for f, _example, _make in TEMPLATES[kind]]
    if kind == h.FEEDBACK:
        for dim in FeedbackDimension.objects.filter(active=True):
            spec.append((dim.name, 5, lambda: _list(["1", "2", "3", "4", "5"])))
    if kind == h.CUSTOMERS:
        spec.extend((cf.label, "", None) for cf in CustomField.objects.all())
    wb = Workbook()
    ws = wb.active
    ws.title = sheet_name(kind)
    for i, (header, example, make) in enumerate(spec, start=1):
        letter = get_column_letter(i)
        field = fields[i - 1] if i <= len(fields) else None
        if isinstance(example, Promise):
            example = str(example)
        top = ws.cell(row=1, column=i, value=neutralise(header))
        style_header(top)
        cell = ws.cell(row=2, column=i, value=example)
        if isinstance(example, datetime.date):
            cell.number_format = DATE
        column_format = "@" if field in TEXT_COLUMNS else money_format() if field in MONEY_COLUMNS else None
        if column_format:
            for r in range(2, TEMPLATE_ROWS + 2):
                ws.cell(row=r, column=i).number_format = column_format
        ws.column_dimensions[letter].width = max(10, _width(header) + 4, _width(example) + 4)
        if make:
            dv = make()
            dv.add(f"{letter}2:{letter}{TEMPLATE_ROWS + 1}")
            ws.add_data_validation(dv)
    ws.freeze_panes = "A2"
    ws.auto_filter.ref = f"A1:{get_column_letter(len(spec))}1"
    notes = wb.create_sheet(_("填写说明"))
    for line in [
        _("第 2 行是示例，导入前请删除或改写。"),
        _("日期可写作 2024-01-05、2024/1/5 或 2024年1月5日；金额可写作 1200、%(money)s 或 1200%(unit)s。")
        % {"money": money.fmt(1200), "unit": money.current().unit, "code": money.current().code},
        _("手机号码填写 11 位数字；多个标签或偏好品类用顿号（、）或逗号分隔。"),
        _("同一客户再次导入时按客户编号、手机号、邮箱或微信号识别，不会重复新建。"),
    ]:
        notes.append([line])
    notes.column_dimensions["A"].width = 90
    wb.save(target)


def visible_orders(user) -> QuerySet:
    """Orders of the customers `user` may see."""
    return Order.objects.filter(customer__in=Customer.objects.visible_to(user))
