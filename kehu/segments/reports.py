"""The data of each analysis page: read the store (GROUP BY in the database, orders through Polars),
call the pure functions in `analysis.py`, and shape one dict of figures, tables and chart specs that
feeds the HTML page, the CSV and the xlsx export alike.

Every page's dict is cached per classification run (SegmentRun as_of + finished_at), per user scope
(everyone, or one sales rep's own customers), per language and per page parameters, so a page view
costs a cache lookup and a query for the latest run, not a pass over a million customers.
"""

from __future__ import annotations

import datetime
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from django.core.cache import cache
from django.db import connection
from django.db.models import Count, F, Q, Sum
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from kehu.customers.models import Customer, Kind
from kehu.lib import ages, money
from kehu.lib.ages import AgeBands
from kehu.lib.dates import today
from kehu.lib.labels import class_label
from kehu.sales.models import Category, Order, OrderStatus, PaymentMethod

from . import analysis, pipeline
from .engine import model_check
from .models import CLASS_LABELS, CLASS_NAMES, CustomerSegment, SegmentRun, SegmentSnapshot, class_code

if TYPE_CHECKING:
    import polars as pl

CACHE_SECONDS = 24 * 3600
CACHE_SECONDS_WITHOUT_RUN = 60
SCOPED_IDS_IN_SQL = 5000       # a sales rep with more customers reads all orders and filters in Polars
LIST_LIMIT = 50
TREND_SHOWN = 20


# --- who sees what ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Scope:
    """Everyone's customers, or a sales rep's own (`owner_id`)."""

    owner_id: int | None = None

    @classmethod
    def of(cls, user) -> Scope:
        return cls(None if user.sees_all_customers else user.pk)

    @property
    def key(self) -> str:
        return "all" if self.owner_id is None else f"owner{self.owner_id}"

    def customers(self):
        qs = Customer.objects.all()
        return qs if self.owner_id is None else qs.filter(owner_id=self.owner_id)

    def segments(self):
        qs = CustomerSegment.objects.all()
        return qs if self.owner_id is None else qs.filter(customer__owner_id=self.owner_id)

    def customer_ids(self) -> list[int] | None:
        return None if self.owner_id is None else list(self.customers().values_list("id", flat=True))

    def orders(self, until: datetime.datetime) -> pl.DataFrame:
        """Counted orders before `until` of the customers in scope (one query). The time limit is applied in
        Polars: a range condition in SQL makes SQLite walk the time index, several times slower than a scan."""
        import polars as pl

        ids = self.customer_ids()
        if ids is None:
            orders = pipeline.read_orders()
        elif not ids:
            return analysis.no_orders()
        elif len(ids) <= SCOPED_IDS_IN_SQL:
            orders = pipeline.read_orders(customer_ids=ids)
        else:
            orders = pipeline.read_orders().filter(pl.col("customer_id").is_in(ids))
        return orders.filter(pl.col("ordered_at") < until)


def orders_after(until: datetime.datetime) -> bool:
    """Whether a counted order was placed at or after `until` (after the run's day): an index lookup."""
    return Order.objects.completed().filter(ordered_at__gte=until).exists()


def latest_run() -> SegmentRun | None:
    """The run whose classes CustomerSegment holds now (the one finished last)."""
    return SegmentRun.objects.order_by("-finished_at").first()


@dataclass
class Report:
    """What a builder gets: the scope, the run (None before the first one) and validated parameters."""

    scope: Scope
    run: SegmentRun | None
    params: dict[str, str] = field(default_factory=dict)

    @property
    def as_of(self) -> datetime.date:
        return self.run.as_of if self.run else today()

    @property
    def until(self) -> datetime.datetime:
        return pipeline.day_start(self.as_of + datetime.timedelta(days=1))

    @property
    def thresholds(self):
        from .models import SegmentSettings

        return self.run.threshold_values if self.run else SegmentSettings.load()

    def cache_key(self, page: str) -> str:
        run = f"{self.run.as_of}:{self.run.finished_at.timestamp()}" if self.run else "none"
        params = urlencode(sorted(self.params.items()))
        raw = f"{page}|{run}|{self.scope.key}|{get_language()}|{money.current().code}|{params}"
        return "kehu:segments:" + hashlib.sha1(raw.encode()).hexdigest()


# --- tables: one shape for the page, CSV and xlsx -----------------------------------------------------

FORMATS = {
    "int": lambda v: f"{v:,}",
    "money": lambda v: money.fmt(v),  # the shop's currency
    "pct": lambda v: f"{v:.1%}",
    "signed_pct": lambda v: f"{v:+.1%}",
    "decimal": lambda v: f"{v:,.1f}",
    "text": str,
}


class Table:
    def __init__(self, table_id: str, title: str, columns: list[tuple[str, str]]):
        self.id, self.title = table_id, str(title)  # cached and exported as text, in the reader's language
        self.columns = [{"label": str(label), "kind": kind, "num": kind != "text"} for label, kind in columns]
        self.rows: list[list[dict]] = []

    def add(self, *values, links: dict[int, str] | None = None) -> None:
        cells = []
        for i, (value, column) in enumerate(zip(values, self.columns, strict=True)):
            text = "—" if value is None or value == "" else FORMATS[column["kind"]](value)
            cells.append({"value": value, "text": text, "href": (links or {}).get(i, ""), "num": column["num"]})
        self.rows.append(cells)

    def to_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "columns": self.columns, "rows": self.rows}


def customers_url(**filters) -> str:
    return reverse("customers:list") + "?" + urlencode(filters)


def _class_counts(report: Report, column: str) -> dict[str, tuple[int, float]]:
    rows = report.scope.segments().values(column).annotate(n=Count("pk"), m=Sum("monetary")).order_by()
    return {row[column]: (row["n"], float(row["m"] or 0)) for row in rows}


def _distribution_table(report: Report, column: str, table_id: str) -> tuple[dict, dict]:
    rows = analysis.distribution(_class_counts(report, column), CLASS_NAMES[column])
    table = Table(table_id, CLASS_LABELS[column], [
        (_("分层"), "text"), (_("客户数"), "int"), (_("客户占比"), "pct"), (_("消费金额"), "money"),
        (_("金额占比"), "pct"), (_("人均消费"), "money")])
    for row in rows:
        name = class_label(row["name"]) or _("（无消费）")
        links = {0: customers_url(**{column: row["name"]})} if row["name"] else None
        table.add(name, row["customers"], row["customer_share"], row["revenue"], row["revenue_share"],
                  row["avg_revenue"], links=links)
    chart = {"kind": "bars", "percent": True, "categories": [class_label(r["name"]) or _("（无消费）") for r in rows],
             "series": [{"name": _("客户占比"), "data": [r["customer_share"] for r in rows]},
                        {"name": _("金额占比"), "data": [r["revenue_share"] for r in rows]}]}
    return table.to_dict(), chart


def _run_info(report: Report) -> dict:
    run = report.run
    return {"as_of": run.as_of, "finished_at": run.finished_at, "seconds": run.seconds} if run else {}


# --- what the pages derive from the orders: one read per run and scope --------------------------------

def big_ticket_max_orders(report: Report) -> int:
    """"Low frequency" for potential big-ticket customers: below the medium-frequency tier."""
    return max(1, report.thresholds.freq_mid_orders - 1)


def _from_orders(report: Report) -> dict:
    """Everything the dashboard, retention and trend pages take from the orders, from one read."""
    import polars as pl

    orders = analysis.with_months(report.scope.orders(report.until))
    customers = report.scope.customers().count()
    return {
        "figures": analysis.key_figures(orders, customers, report.as_of, report.thresholds.sleeping_days),
        "monthly": analysis.monthly(orders, report.as_of, 24),
        "new_returning": analysis.new_vs_returning(orders, report.as_of, 12),
        "cohorts": analysis.cohort_retention(orders, report.as_of, 12),
        "pareto": analysis.pareto(orders.group_by("customer_id").agg(pl.col("amount_cents").sum())["amount_cents"]),
        "big_ticket": analysis.big_ticket(orders, big_ticket_max_orders(report), 0.8, LIST_LIMIT),
    }


def _shared(name: str, report: Report, builder: Callable[[Report], dict]) -> dict:
    """A cached intermediate shared by several pages (same run and scope, whatever the page parameters)."""
    base = Report(report.scope, report.run)
    key = base.cache_key(name)
    data = cache.get(key)
    if data is None:
        data = builder(base)
        cache.set(key, data, CACHE_SECONDS if report.run else CACHE_SECONDS_WITHOUT_RUN)
    return data


# --- pages --------------------------------------------------------------------------------------------

def dashboard(report: Report) -> dict:
    derived = _shared("orders", report, _from_orders)
    figures = derived["figures"]
    months = derived["monthly"]
    monthly = Table("monthly", _("每月消费"), [(_("月份"), "text"), (_("消费金额"), "money"), (_("订单数"), "int"),
                                              (_("新客户"), "int")])
    for row in months:
        monthly.add(row["month"], row["revenue"], row["orders"], row["new_customers"])
    monthly_chart = {"kind": "monthly", "categories": [r["month"] for r in months], "series": [
        {"name": money.header(_("消费金额")), "type": "bar", "axis": 0, "data": [r["revenue"] for r in months]},
        {"name": _("订单数"), "type": "line", "axis": 1, "data": [r["orders"] for r in months]},
        {"name": _("新客户"), "type": "line", "axis": 1, "data": [r["new_customers"] for r in months]}]}

    rfm_table, rfm_chart = _distribution_table(report, "rfm_class", "rfm")
    rf_table, _rf_chart = _distribution_table(report, "rf_segment", "rf")
    cells = report.scope.segments().exclude(r_score=None).values_list("r_score", "f_score").annotate(
        n=Count("pk")).order_by()
    grid = analysis.rf_grid(cells)
    grid_chart = {"kind": "grid", "x": [f"F{f}" for f in range(1, 6)], "y": [f"R{r}" for r in range(1, 6)],
                  "data": [[c["f"] - 1, row["r"] - 1, c["customers"], class_label(c["segment"])]
                           for row in grid for c in row["cells"]]}

    life = analysis.distribution(_class_counts(report, "lifecycle"), CLASS_NAMES["lifecycle"])
    lifecycle = Table("lifecycle", _("生命周期"), [(_("阶段"), "text"), (_("客户数"), "int"), (_("客户占比"), "pct"),
                                                   (_("消费金额"), "money")])
    for row in life:
        if row["name"]:
            lifecycle.add(class_label(row["name"]), row["customers"], row["customer_share"], row["revenue"],
                          links={0: customers_url(lifecycle=row["name"])})
    funnel_chart = {"kind": "funnel", "data": [{"name": class_label(r["name"]), "value": r["customers"]} for r in life
                                               if r["name"]]}

    curve = derived["pareto"]
    abc_table, _abc_chart = _distribution_table(report, "abc_class", "abc")
    pareto_chart = {"kind": "pareto", "data": curve["curve"]}
    return {
        "run": _run_info(report), "figures": figures, "top20_share": curve["top20_share"],
        "active_days": report.thresholds.sleeping_days,
        "tables": {"monthly": monthly.to_dict(), "rfm": rfm_table, "rf": rf_table,
                   "lifecycle": lifecycle.to_dict(), "abc": abc_table},
        "grid": grid,
        "charts": {"monthly": monthly_chart, "rfm": rfm_chart, "grid": grid_chart, "lifecycle": funnel_chart,
                   "pareto": pareto_chart},
    }


def retention(report: Report) -> dict:
    derived = _shared("orders", report, _from_orders)
    months = derived["new_returning"]
    table = Table("new_returning", _("新老客户"), [
        (_("月份"), "text"), (_("新客户"), "int"), (_("老客户"), "int"), (_("老客户占比"), "pct"),
        (_("新客户消费"), "money"), (_("老客户消费"), "money")])
    for r in months:
        table.add(r["month"], r["new"], r["returning"], r["returning_share"], r["new_revenue"],
                  r["returning_revenue"])
    chart = {"kind": "stacked", "categories": [r["month"] for r in months], "series": [
        {"name": _("新客户"), "data": [r["new"] for r in months]},
        {"name": _("老客户"), "data": [r["returning"] for r in months]}]}

    cohorts = derived["cohorts"]
    since = [_("第%(n)s月") % {"n": k} for k in range(12)]
    cohort_table = Table("cohorts", _("同期群留存"), [(_("首购月份"), "text"), (_("客户数"), "int"),
                                                     *[(label, "pct") for label in since]])
    for row in cohorts:
        cohort_table.add(row["cohort"], row["size"], *row["retention"])
    heat = {"kind": "heatmap", "percent": True, "x": since, "y": [r["cohort"] for r in cohorts],
            "data": [[k, i, v] for i, r in enumerate(cohorts) for k, v in enumerate(r["retention"])
                     if v is not None and r["size"]]}
    return {"run": _run_info(report), "tables": {"new_returning": table.to_dict(), "cohorts": cohort_table.to_dict()},
            "charts": {"new_returning": chart, "cohorts": heat}}


def _customer_rows(qs, table: Table, values: Callable) -> None:
    for seg in qs.select_related("customer")[:TREND_SHOWN]:
        c = seg.customer
        table.add(c.code, c.name, *values(seg), links={0: c.get_absolute_url(), 1: c.get_absolute_url()})


def trends(report: Report) -> dict:
    segments = report.scope.segments()
    counts = dict(segments.exclude(trend="").values_list("trend").annotate(n=Count("pk")).order_by())
    change = F("spend_recent") - F("spend_previous")
    tables = {}
    for trend, table_id, title, order in (("上升", "rising", _("消费上升的客户"), "-change"),
                                          ("下降", "falling", _("消费下降的客户"), "change")):
        table = Table(table_id, title, [(_("客户编号"), "text"), (_("姓名"), "text"), (_("近期消费"), "money"),
                                        (_("前期消费"), "money"), (_("变化"), "money"), (_("RFM分层"), "text")])
        qs = segments.filter(trend=trend).annotate(change=change).order_by(order, "customer_id")
        _customer_rows(qs, table, lambda s: (float(s.spend_recent), float(s.spend_previous),
                                             float(s.spend_recent - s.spend_previous), class_label(s.rfm_class)))
        tables[table_id] = table.to_dict()

    thresholds = report.thresholds
    max_orders = big_ticket_max_orders(report)
    found = _shared("orders", report, _from_orders)["big_ticket"]
    by_id = {c.id: c for c in Customer.objects.filter(id__in=[r["customer_id"] for r in found["rows"]])}
    table = Table("big_ticket", _("潜力大单客户"), [(_("客户编号"), "text"), (_("姓名"), "text"),
                                                   (_("订单数"), "int"), (_("消费金额"), "money"),
                                                   (_("客单价"), "money")])
    for row in found["rows"]:
        c = by_id.get(row["customer_id"])
        if c:
            table.add(c.code, c.name, row["orders"], row["monetary"], row["avg_order_value"],
                      links={0: c.get_absolute_url(), 1: c.get_absolute_url()})
    tables["big_ticket"] = table.to_dict()
    chart = {"kind": "bars", "categories": [class_label(t) for t in ("上升", "持平", "下降")],
             "series": [{"name": _("客户数"), "data": [counts.get(t, 0) for t in ("上升", "持平", "下降")]}]}
    named = {"rising": counts.get("上升", 0), "flat": counts.get("持平", 0), "falling": counts.get("下降", 0)}
    return {"run": _run_info(report), "trend_counts": named, "trend_months": thresholds.trend_months,
            "trend_change": thresholds.trend_change, "big_ticket": {
                "threshold": found["threshold"], "count": found["count"], "max_orders": max_orders},
            "tables": tables, "charts": {"trend": chart}}


def _rows(sql: str, params: list, schema: dict) -> pl.DataFrame:
    import polars as pl

    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return pl.DataFrame(cursor.fetchall(), schema=schema, orient="row")


def _segment_classes(report: Report) -> pl.DataFrame:
    """customer_id and every class column of the customers in scope (one query)."""
    import polars as pl

    columns = ", ".join(f"s.{c}" for c in CLASS_NAMES)
    sql = f"SELECT s.customer_id, {columns} FROM {CustomerSegment._meta.db_table} s"
    params: list = []
    if report.scope.owner_id is not None:
        sql += f" JOIN {Customer._meta.db_table} c ON c.id = s.customer_id WHERE c.owner_id = %s"
        params.append(report.scope.owner_id)
    return _rows(sql, params, {"customer_id": pl.Int64, **dict.fromkeys(CLASS_NAMES, pl.String)})


def _payments_by_customer(report: Report, later: bool) -> pl.DataFrame:
    """Spend per (customer, payment method) of counted orders: the rows in one scan, grouped in Polars (a
    GROUP BY inside SQLite is several times slower). The time condition only when orders were placed
    after the run's day (`later`), see Scope.orders."""
    import polars as pl

    cents = "CAST(ROUND(amount * 100) AS INTEGER)" if connection.vendor == "sqlite" else "CAST(amount * 100 AS BIGINT)"
    sql = f"SELECT customer_id, payment_method, {cents} FROM {Order._meta.db_table} WHERE status = %s"
    params: list = [OrderStatus.COMPLETED]
    if later:
        sql += " AND ordered_at < %s"
        params.append(connection.ops.adapt_datetimefield_value(report.until))
    if report.scope.owner_id is not None:
        sql += f" AND customer_id IN (SELECT id FROM {Customer._meta.db_table} WHERE owner_id = %s)"
        params.append(report.scope.owner_id)
    rows = _rows(sql, params, {"customer_id": pl.Int64, "key": pl.String, "amount_cents": pl.Int64})
    return rows.group_by("customer_id", "key").agg(pl.col("amount_cents").sum())


def _from_purchases(report: Report) -> dict:
    """Favourite categories and payment methods per class, for every class column, from one read each."""
    import polars as pl

    classes = _segment_classes(report)
    ids = report.scope.customer_ids()
    later = orders_after(report.until)
    lines = pipeline.read_lines(until=report.until if later else None)
    if ids is not None:
        lines = lines.filter(pl.col("customer_id").is_in(ids))
    lines = lines.group_by("customer_id", pl.col("category").alias("key")).agg(pl.col("amount_cents").sum())
    payments = _payments_by_customer(report, later)
    category_names = dict(Category.objects.values_list("id", "name"))
    method_names = dict(PaymentMethod.choices)
    result = {}
    for column in CLASS_NAMES:
        of_column = classes.select("customer_id", pl.col(column).alias("class")).filter(pl.col("class") != "")
        result[column] = {
            "categories": analysis.favourites(analysis.spend_by_class(lines, of_column), category_names),
            "payments": analysis.favourites(analysis.spend_by_class(payments, of_column), method_names),
        }
    return result


def preferences(report: Report) -> dict:
    column = report.params.get("column", "rfm_class")
    found = _shared("purchases", report, _from_purchases)[column]
    categories, methods = found["categories"], found["payments"]
    names = [n for n in CLASS_NAMES[column] if n in categories or n in methods]
    cat_table = Table("categories", _("各分层偏好品类"), [(_("分层"), "text"), (_("排名"), "int"), (_("品类"), "text"),
                                                        (_("消费金额"), "money"), (_("占该层消费"), "pct"),
                                                        (_("购买客户"), "int")])
    pay_table = Table("payments", _("各分层支付方式"), [(_("分层"), "text"), (_("排名"), "int"),
                                                       (_("支付方式"), "text"), (_("消费金额"), "money"),
                                                       (_("占该层消费"), "pct"), (_("客户数"), "int")])
    for table, by_class in ((cat_table, categories), (pay_table, methods)):
        for name in names:
            for rank, row in enumerate(by_class.get(name, []), start=1):
                table.add(class_label(name), rank, row["name"], row["revenue"], row["share"], row["customers"],
                          links={0: customers_url(**{column: name})})
    return {"run": _run_info(report), "column": column, "classes": names,
            "categories": categories, "payments": methods,
            "tables": {"categories": cat_table.to_dict(), "payments": pay_table.to_dict()}, "charts": {}}


def regions(report: Report) -> dict:
    rows = report.scope.customers().values("province").annotate(
        customers=Count("id"), buyers=Count("segment", filter=Q(segment__frequency__gt=0)),
        revenue=Sum("segment__monetary")).order_by()
    rows = sorted(({"province": r["province"], "customers": r["customers"], "buyers": r["buyers"],
                    "revenue": float(r["revenue"] or 0)} for r in rows),
                  key=lambda r: (-r["revenue"], -r["customers"], r["province"]))
    total_n = sum(r["customers"] for r in rows)
    total_m = sum(r["revenue"] for r in rows)
    table = Table("provinces", _("各省份客户与消费"), [
        (_("省份"), "text"), (_("客户数"), "int"), (_("有消费客户"), "int"), (_("客户占比"), "pct"),
        (_("消费金额"), "money"), (_("金额占比"), "pct")])
    for r in rows:
        table.add(r["province"] or _("（未填写）"), r["customers"], r["buyers"],
                  analysis.share(r["customers"], total_n), r["revenue"], analysis.share(r["revenue"], total_m),
                  links={0: customers_url(province=r["province"])} if r["province"] else None)
    top = rows[:15][::-1]
    chart = {"kind": "hbars", "axisName": money.header(_("消费金额")),
             "categories": [r["province"] or _("（未填写）") for r in top], "series": [
                 {"name": money.header(_("消费金额")), "data": [round(r["revenue"], 2) for r in top]}]}
    return {"run": _run_info(report), "tables": {"provinces": table.to_dict()}, "charts": {"provinces": chart}}


GENDERS = ("male", "female", "")


def _gender_label(gender: str) -> str:
    return {"male": _("男"), "female": _("女")}.get(gender, _("未知"))


def demographics(report: Report) -> dict:
    """Customers, revenue, average order value and the RFM-class mix per age band × gender of the individual
    customers (个人), from the stored bands (no birthday is decrypted); the table leaves out empty cells. Links to
    the customers of a cell only for roles that may filter by age band."""
    bands = AgeBands.from_list([int(v) for v in report.params["bands"].split(",")])
    classes = CLASS_NAMES["rfm_class"]
    people = report.scope.customers().filter(kind=Kind.PERSON)      # a company has no age or gender
    rows = people.values_list("age_band", "gender", "segment__rfm_class").annotate(
        n=Count("id"), m=Sum("segment__monetary"), f=Sum("segment__frequency")).order_by()
    cells = analysis.demographics(rows, bands.keys, GENDERS, classes)
    table = Table("demographics", _("各年龄段与性别"), [
        (_("年龄段"), "text"), (_("性别"), "text"), (_("客户数"), "int"), (_("客户占比"), "pct"),
        (_("消费金额"), "money"), (_("金额占比"), "pct"), (_("订单数"), "int"), (_("客单价"), "money"),
        *((class_label(name), "int") for name in classes), (_("（无消费）"), "int")])
    for c in (c for c in cells if c["customers"]):
        band = ages.label(c["band"], _("未知"))
        links = None
        if report.params.get("links"):
            links = {0: customers_url(age_band=c["band"] or "unknown", gender=c["gender"] or "unknown")}
        table.add(band, _gender_label(c["gender"]), c["customers"], c["customer_share"], c["revenue"],
                  c["revenue_share"], c["orders"], c["avg_order_value"], *c["classes"].values(), links=links)
    band_keys = list(dict.fromkeys(c["band"] for c in cells))
    by_cell = {(c["band"], c["gender"]): c for c in cells}
    categories = [ages.label(b, _("未知")) for b in band_keys]
    customers_chart = {"kind": "bars", "categories": categories, "series": [
        {"name": _gender_label(g), "data": [by_cell[(b, g)]["customers"] for b in band_keys]} for g in GENDERS]}
    aov_chart = {"kind": "bars", "money": True, "axisName": money.header(_("客单价")), "categories": categories,
                 "series": [
        {"name": _gender_label(g), "data": [by_cell[(b, g)]["avg_order_value"] for b in band_keys]}
        for g in GENDERS]}
    filled = [c for c in cells if c["customers"]]
    mix_chart = {"kind": "stacked", "percent": True,
                 "categories": [f"{ages.label(c['band'], _('未知'))} {_gender_label(c['gender'])}" for c in filled],
                 "series": [{"name": class_label(name) or _("（无消费）"),
                             "data": [analysis.share(c["classes"][name], c["customers"]) for c in filled]}
                            for name in [*classes, ""]]}
    companies = report.scope.customers().exclude(kind=Kind.PERSON).count()
    return {"run": _run_info(report), "bands": bands.text(), "companies": companies,
            "tables": {"demographics": table.to_dict()},
            "charts": {"customers": customers_chart, "aov": aov_chart, "mix": mix_chart}}


# --- movement -----------------------------------------------------------------------------------------

def scoped_matrix(owner_id: int, from_date, to_date, column: str) -> dict[str, dict[str, int]]:
    """migration_matrix for one sales rep's customers (those now in the later snapshot): one GROUP BY."""
    from django.db.models import OuterRef, Subquery, Value
    from django.db.models.functions import Coalesce

    before = SegmentSnapshot.objects.on(from_date).filter(customer_id=OuterRef("customer_id")).values(column)[:1]
    rows = SegmentSnapshot.objects.on(to_date).filter(customer__owner_id=owner_id).annotate(
        was=Coalesce(Subquery(before), Value(0))).values_list("was", column).annotate(n=Count("pk")).order_by()
    names = [pipeline.NO_CLASS, *CLASS_NAMES[column]]
    order = {name: i for i, name in enumerate([*CLASS_NAMES[column], pipeline.NO_CLASS])}
    matrix: dict[str, dict[str, int]] = {}
    for was, now, n in rows:
        matrix.setdefault(names[was], {})[names[now]] = int(n)
    return {k: dict(sorted(v.items(), key=lambda kv: order[kv[0]]))
            for k, v in sorted(matrix.items(), key=lambda kv: order[kv[0]])}


def movers_url(from_date, to_date, column: str, a: str, b: str) -> str:
    return reverse("segments:movers") + "?" + urlencode(
        {"from": f"{from_date}", "to": f"{to_date}", "column": column, "a": a, "b": b})


def movement(report: Report) -> dict:
    from_date = datetime.date.fromisoformat(report.params["from"])
    to_date = datetime.date.fromisoformat(report.params["to"])
    column = report.params["column"]
    if report.scope.owner_id is None:
        matrix = pipeline.migration_matrix(from_date, to_date, column)
    else:
        matrix = scoped_matrix(report.scope.owner_id, from_date, to_date, column)
    targets = [n for n in [*CLASS_NAMES[column], pipeline.NO_CLASS] if any(n in row for row in matrix.values())]
    table = Table("matrix", _("分层迁移矩阵"), [(_("从 \\ 到"), "text"), *[(class_label(t), "int") for t in targets],
                                               (_("合计"), "int")])
    for source, row in matrix.items():
        links = {i: movers_url(from_date, to_date, column, source, t) for i, t in enumerate(targets, start=1)
                 if row.get(t)}
        table.add(class_label(source), *[row.get(t, 0) for t in targets], sum(row.values()), links=links)
    moves = analysis.movement_sentences(matrix)
    for move in moves:
        move["href"] = movers_url(from_date, to_date, column, move["from"], move["to"])
    sentences = Table("moves", _("客户迁移"), [(_("原分层"), "text"), (_("新分层"), "text"), (_("客户数"), "int")])
    for move in moves:
        sentences.add(class_label(move["from"]), class_label(move["to"]), move["customers"], links={2: move["href"]})
    heat = {"kind": "heatmap", "x": [class_label(t) for t in targets], "y": [class_label(t) for t in matrix],
            "data": [[targets.index(t), i, n] for i, row in enumerate(matrix.values()) for t, n in row.items()]}
    stayed = sum(row.get(source, 0) for source, row in matrix.items())
    total = sum(sum(row.values()) for row in matrix.values())
    return {"run": _run_info(report), "from": from_date, "to": to_date, "column": column, "moves": moves,
            "stayed": stayed, "total": total,
            "tables": {"matrix": table.to_dict(), "moves": sentences.to_dict()}, "charts": {"matrix": heat}}


def movers_queryset(from_date, to_date, column: str, a: str, b: str):
    """Customers who were in class `a` on `from_date` and are in `b` on `to_date` (pipeline.movers);
    NO_CLASS stands for no class or no snapshot row, as in the matrix."""
    if a != pipeline.NO_CLASS and b != pipeline.NO_CLASS:
        return pipeline.movers(from_date, to_date, a, b, column)
    code = 0 if b == pipeline.NO_CLASS else class_code(column, b)
    now = SegmentSnapshot.objects.on(to_date).filter(**{column: code})
    before = SegmentSnapshot.objects.on(from_date)
    if a == pipeline.NO_CLASS:
        now = now.exclude(customer_id__in=before.exclude(**{column: 0}).values("customer_id"))
    else:
        now = now.filter(customer_id__in=before.filter(**{column: class_code(column, a)}).values("customer_id"))
    return Customer.objects.filter(id__in=now.values("customer_id"))


# --- model check --------------------------------------------------------------------------------------

def models(report: Report) -> dict:
    """模型检验: the stored holdout check of the purchase models (``SegmentRun.value_model["model_check"]``).

    Shop-wide figures of a model fitted on every customer, so a sales rep (whose pages cover their own
    customers) is told so instead.
    """
    value_model = (report.run.value_model or {}) if report.run else {}
    check = value_model.get("model_check")
    info = {"run": _run_info(report), "tables": {}, "charts": {}, "check": None}
    if report.scope.owner_id is not None:
        return info | {"scoped": True}
    if value_model.get("purchases"):
        info["tables"]["params"] = _params_table(value_model).to_dict()
    if not check:
        return info | {"scoped": False}
    if not check["checked"]:
        return info | {"check": check, "reason": check["reason"] if _chinese() else check["reason_en"]}
    names = [m["model"] for m in check["models"]]
    groups = Table("groups", _("检验期重复消费天数：按校准期重复消费天数分组"), [
        (_("校准期重复消费天数"), "text"), (_("客户数"), "int"), (_("实际"), "int"),
        *((_("%(model)s 预测") % {"model": name}, "decimal") for name in names)])
    for row in model_check.group_rows(check):
        groups.add(_("合计") if row[0] == "合计" else row[0], *row[1:])
    totals = Table("totals", _("检验期合计：预测与实际"), [
        (_("模型"), "text"), (_("预测"), "decimal"), (_("实际"), "int"), (_("误差"), "signed_pct"),
        (_("说明"), "text")])
    for name, predicted, actual, error, chosen, candidate, reason, reason_en in model_check.total_rows(check):
        if reason:
            note = reason if _chinese() else reason_en
        elif chosen:
            note = _("选用（默认 MBG/NBD；Pareto/NBD 的检验期误差小 %(margin)s 个百分点以上时改用它）") % {
                "margin": model_check.CHOICE_MARGIN}
        elif not candidate:
            note = _("仅作对照：该模型认为只买过一次的客户一定仍活跃，流失概率总是 0")
        else:
            note = _("可选：只买过一次的客户也有流失概率")
        totals.add(name, predicted, actual, error, note)
    # the calibration end is marked at the first week that ends on or after it
    mark = next((week for week in check["weeks"] if week >= check["calibration_end"]), None)
    chart = {"kind": "lines", "categories": check["weeks"], "mark": mark,
             "markLabel": _("校准期结束"), "series": [
        {"name": _("实际"), "data": check["actual_cumulative"]},
        *({"name": m["model"], "data": [round(v, 1) for v in m["predicted_cumulative"]]}
          for m in check["models"] if m["fitted"])]}
    tables = {**info["tables"], "groups": groups.to_dict(), "totals": totals.to_dict()}
    return info | {"check": check, "tables": tables, "charts": {"cumulative": chart},
                   "margin": model_check.CHOICE_MARGIN}


TIME_UNITS = {"days": "天", "weeks": "周"}


def _params_table(value_model: dict) -> Table:
    """模型参数: the time unit first, then each fitted model's parameters and its log-likelihood, which for the
    purchase models is on that time unit (the same data in weeks gives another value)."""
    from .engine import clv

    unit = _(TIME_UNITS.get(value_model.get("time_unit", "days"), "天"))
    table = Table("params", _("模型参数"), [(_("参数"), "text"), (_("值"), "text"), (_("说明"), "text")])
    table.add(_("时间单位"), unit,
              _("模型以%(unit)s为时间单位：参数与对数似然都按%(unit)s计算；一天内多笔订单算一个消费天数")
              % {"unit": unit})
    table.add(_("币种"), f"{money.current().code} {money.current().symbol}",
              _("预计消费额与客户价值的金额单位（系统设置 → 币种）"))
    classes = {c.model: c for c in (clv.BGNBDFit, clv.MBGNBDFit, clv.ParetoNBDFit, clv.GammaGammaFit)}
    for key in ("purchases", "spend"):
        fit = value_model.get(key)
        if not fit:
            continue
        name = fit["model"]
        if not fit.get("fitted"):
            table.add(name, _("未拟合"), fit.get("reason", "") if _chinese() else fit.get("reason_en", ""))
            continue
        labels = getattr(classes.get(name), "_labels", {})
        for param, value in fit["params"].items():
            zh, en = labels.get(param, (param, param))
            table.add(f"{name} {param}", f"{value:.6g}", zh if _chinese() else en)
        timed = getattr(classes.get(name), "_timed", True)
        table.add(f"{name} {_('对数似然')}", f"{fit['log_likelihood']:.6g}",
                  _("以%(unit)s为时间单位的对数似然；换用其他时间单位数值会变") % {"unit": unit} if timed else
                  _("与时间单位无关"))
    return table


def _chinese() -> bool:
    return (get_language() or "zh").startswith("zh")


PAGES: dict[str, Callable[[Report], dict]] = {
    "dashboard": dashboard, "retention": retention, "trends": trends, "preferences": preferences,
    "regions": regions, "movement": movement, "models": models, "demographics": demographics,
}


def warm(run: SegmentRun | None = None) -> None:
    """Build every page for the whole shop right after a classification, so nobody waits for it."""
    report = Report(Scope(), run or latest_run())
    for page in ("dashboard", "retention", "trends", "preferences", "regions"):
        build(page, Report(report.scope, report.run, {"column": "rfm_class"} if page == "preferences" else {}))


def build(page: str, report: Report) -> dict:
    """The page's data, from the cache when this run, scope, language and parameters were built before."""
    key = report.cache_key(page)
    data = cache.get(key)
    if data is None:
        data = PAGES[page](report)
        cache.set(key, data, CACHE_SECONDS if report.run else CACHE_SECONDS_WITHOUT_RUN)
    return data
