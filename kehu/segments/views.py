"""Segmentation pages: the dashboard, the analysis pages, movement between snapshots, the threshold
settings, the exports of every table, and the segments section of the customer page.

Views are thin: the data of a page comes from `reports.build` (cached per classification run and per
user scope); a sales rep sees figures over their own customers only.
"""

from __future__ import annotations

import csv
import datetime
import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST
from django_htmx.http import HttpResponseClientRedirect

from kehu.accounts import audit
from kehu.customers.models import Customer
from kehu.lib import money
from kehu.lib.cells import neutralise, sheet_title
from kehu.lib.labels import class_label

from . import pipeline, reports, risk, runs, upkeep
from .forms import AgeBandsForm, ThresholdsForm
from .lease import JobRunning
from .models import (
    CLASS_LABELS,
    CLASS_NAMES,
    CustomerMetrics,
    CustomerSegment,
    SegmentJob,
    SegmentSettings,
    SegmentSnapshot,
)

ANALYSIS_PAGES = {
    "retention": ("segments/retention.html", "新老客户与留存"),
    "trends": ("segments/trends.html", "消费趋势与潜力客户"),
    "preferences": ("segments/preferences.html", "各分层偏好"),
    "regions": ("segments/regions.html", "地区分布"),
    "models": ("segments/models.html", "模型检验"),
    "demographics": ("segments/demographics.html", "年龄与性别"),
}
MOVERS_SHOWN = 200
# The class columns the customer list can filter by (see customers/filters.py).
LIST_FILTERS = ("rfm_class", "rf_segment", "abc_class", "lifecycle")


def require_manager(user) -> None:
    if not user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以修改分层设置"))


def _report(request: HttpRequest, params: dict | None = None) -> reports.Report:
    return reports.Report(reports.Scope.of(request.user), reports.latest_run(), params or {})


# --- page parameters ----------------------------------------------------------------------------------

def _preferences_params(request: HttpRequest) -> dict:
    column = request.GET.get("column", "rfm_class")
    return {"column": column if column in CLASS_NAMES else "rfm_class"}


def _movement_params(request: HttpRequest) -> dict | None:
    """from/to among the snapshot dates (default: the two latest) and a class column; None if < 2 dates."""
    dates = pipeline.snapshot_dates()
    if len(dates) < 2:
        return None

    def pick(name: str, default: datetime.date) -> datetime.date:
        try:
            value = datetime.date.fromisoformat(request.GET.get(name, ""))
        except ValueError:
            return default
        return value if value in dates else default

    column = request.GET.get("column", "rfm_class")
    return {"from": f"{pick('from', dates[-2])}", "to": f"{pick('to', dates[-1])}",
            "column": column if column in CLASS_NAMES else "rfm_class"}


def _demographics_params(request: HttpRequest) -> dict:
    """The current age bands (a new cache entry once they change) and whether the cells may link to the customers
    (only for roles that may filter by age band)."""
    return {"bands": SegmentSettings.load_age_bands().text().replace(" ", ""),
            "links": "1" if request.user.sees_contact_details else ""}


PARAMS = {"preferences": _preferences_params, "movement": _movement_params, "demographics": _demographics_params}


def _page_data(request: HttpRequest, page: str) -> tuple[reports.Report, dict] | None:
    params = PARAMS[page](request) if page in PARAMS else {}
    if params is None:
        return None
    report = _report(request, params)
    return report, reports.build(page, report)


def _context(request: HttpRequest, tab: str, report: reports.Report, data: dict, **extra) -> dict:
    return {"tab": tab, "data": data, "run": report.run, "scoped": report.scope.owner_id is not None,
            "export_query": request.GET.urlencode(), **extra}


# --- pages --------------------------------------------------------------------------------------------

@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    report, data = _page_data(request, "dashboard")
    return render(request, "segments/dashboard.html", _context(request, "dashboard", report, data))


@login_required
def analysis(request: HttpRequest, page: str) -> HttpResponse:
    if page not in ANALYSIS_PAGES:
        raise Http404
    report, data = _page_data(request, page)
    template, _title = ANALYSIS_PAGES[page]
    extra = {"columns": [(c, CLASS_LABELS[c]) for c in CLASS_NAMES]} if page == "preferences" else {}
    if page == "demographics" and request.user.can_manage:
        extra["bands_form"] = AgeBandsForm(initial={"boundaries": data["bands"]})
    return render(request, template, _context(request, page, report, data, **extra))


@login_required
def movement(request: HttpRequest) -> HttpResponse:
    found = _page_data(request, "movement")
    dates = pipeline.snapshot_dates()
    columns = [(c, CLASS_LABELS[c]) for c in CLASS_NAMES]
    if found is None:
        report = _report(request)
        return render(request, "segments/movement.html", _context(request, "movement", report, {}, dates=dates,
                                                                   columns=columns))
    report, data = found
    return render(request, "segments/movement.html", _context(
        request, "movement", report, data, dates=list(reversed(dates)), columns=columns,
        column_label=CLASS_LABELS[data["column"]]))


@login_required
def movers(request: HttpRequest) -> HttpResponse:
    params = _movement_params(request)
    a, b = request.GET.get("a", ""), request.GET.get("b", "")
    if params is None:
        raise Http404
    column = params["column"]
    known = {*CLASS_NAMES[column], pipeline.NO_CLASS}
    if a not in known or b not in known:
        raise Http404
    from_date, to_date = (datetime.date.fromisoformat(params[k]) for k in ("from", "to"))
    qs = reports.movers_queryset(from_date, to_date, column, a, b)
    qs = qs.filter(id__in=Customer.objects.visible_to(request.user).values("id")).select_related("owner")
    total = qs.count()
    customers = list(qs.order_by("code")[:MOVERS_SHOWN])
    segments = {s.customer_id: s for s in CustomerSegment.objects.filter(customer__in=customers)}
    rows = [(c, segments.get(c.id)) for c in customers]
    return render(request, "segments/movers.html", {
        "tab": "movement", "run": reports.latest_run(), "from": from_date, "to": to_date, "column": column,
        "column_label": CLASS_LABELS[column], "a": a, "b": b, "rows": rows, "total": total,
        "more": total > len(customers), "back": reverse("segments:movement") + "?" + request.GET.urlencode()})


def _next(request: HttpRequest, default: str) -> str:
    target = request.POST.get("next", "") or request.GET.get("next", "")
    return target if url_has_allowed_host_and_scheme(target, {request.get_host()}) else default


def _start_run(request: HttpRequest, reason: str, target: str, said: str = "") -> HttpResponse:
    """Queue a classification of everyone and show its progress; `said` goes before a refusal (设置已保存。)."""
    try:
        job = runs.start(request.user, reason)
    except JobRunning as exc:  # `kehu segment` on the command line
        messages.warning(request, f"{said} {exc.message()}".strip())
        return redirect(target)
    except runs.AlreadyRunning as exc:
        messages.warning(request, f"{said} {exc.message()}".strip())
        return redirect(_run_page(exc.job, target))
    if job.finished:  # run in this request (KEHU_SEGMENT_BACKGROUND = False)
        _announce(request, job)
        return redirect(target)
    return redirect(_run_page(job, target))


def _run_page(job: SegmentJob, target: str) -> str:
    return reverse("segments:run", args=[job.pk.hex]) + "?" + urlencode({"next": target})


def _announce(request: HttpRequest, job: SegmentJob) -> None:
    if job.status == SegmentJob.Status.DONE:
        messages.success(request, runs.outcome(job))
    else:
        messages.error(request, runs.outcome(job))


@login_required
@require_POST
def recompute(request: HttpRequest) -> HttpResponse:
    """Classify everyone (what `kehu segment` does) in the background, showing its progress."""
    require_manager(request.user)
    return _start_run(request, SegmentJob.Reason.RECOMPUTE, _next(request, reverse("segments:dashboard")))


@login_required
def run_status(request: HttpRequest, job: str) -> HttpResponse:
    """The stage of a classification (HTMX polls it every second, from any server process); once done, on to the
    page it was started from with what it did."""
    require_manager(request.user)
    found = runs.find(job)
    if found is None:
        raise Http404
    target = _next(request, reverse("segments:dashboard"))
    if found.status == SegmentJob.Status.DONE:
        _announce(request, found)
        return HttpResponseClientRedirect(target) if request.htmx else redirect(target)
    template = "segments/run.html#status" if request.htmx else "segments/run.html"
    return render(request, template, {"job": found, "next": target,
                                      "error": runs.outcome(found) if found.finished else ""})


@login_required
@require_http_methods(["GET", "POST"])
def settings_page(request: HttpRequest) -> HttpResponse:
    require_manager(request.user)
    current = SegmentSettings.load()
    form = ThresholdsForm(request.POST or None, initial_thresholds=current)
    if request.method == "POST" and form.is_valid():
        SegmentSettings.store(form.thresholds, request.user)
        before, after = current.to_dict(), form.thresholds.to_dict()
        if changes := {k: [before.get(k), v] for k, v in after.items() if before.get(k) != v}:
            audit.record(request.user, audit.AuditAction.UPDATE, "分层阈值", {"settings": "thresholds",
                                                                              "changes": changes})
        if "recompute" in request.POST:
            return _start_run(request, SegmentJob.Reason.THRESHOLDS, reverse("segments:settings"),
                              said=_("设置已保存。"))
        messages.success(request, _("设置已保存。重新计算后生效。"))
        return redirect("segments:settings")
    run = reports.latest_run()
    return render(request, "segments/settings.html", {
        "tab": "settings", "form": form, "run": run,
        "pending": bool(run and _thresholds_of(run) != current)})


@login_required
@require_POST
def age_bands(request: HttpRequest) -> HttpResponse:
    """Save the age-band boundaries and recompute every customer's band with them."""
    require_manager(request.user)
    form = AgeBandsForm(request.POST)
    if form.is_valid():
        changed = SegmentSettings.store_age_bands(form.cleaned_data["boundaries"], request.user)
        messages.success(request, _("年龄段已保存，%(n)s 位客户的年龄段随之更新。") % {"n": changed})
    else:
        messages.error(request, form.errors["boundaries"][0])
    return redirect("segments:analysis", page="demographics")


def _thresholds_of(run):
    try:
        return run.threshold_values
    except (TypeError, ValueError):
        return None


# --- exports ------------------------------------------------------------------------------------------

def _cell(cell: dict):
    """A table cell as exported: numbers stay numbers; text (provinces, categories…) cannot run as a formula."""
    value = cell["value"]
    return "" if value is None else neutralise(value)


@login_required
def export(request: HttpRequest, page: str, table: str) -> HttpResponse:
    """One table of a page as CSV (UTF-8 with BOM, opens in Excel) or xlsx: the numbers on screen."""
    if page not in reports.PAGES:
        raise Http404
    found = _page_data(request, page)
    if found is None or table not in found[1]["tables"]:
        raise Http404
    report, data = found
    spec = data["tables"][table]
    # money columns carry the unit in the file (the cells are plain numbers there)
    header = [neutralise(money.header(c["label"]) if c["kind"] == "money" else c["label"]) for c in spec["columns"]]
    rows = [[_cell(cell) for cell in row] for row in spec["rows"]]
    return _table_file(request, spec["title"], f"{report.as_of:%Y%m%d}", header, rows)


def _table_file(request: HttpRequest, title: str, date: str, header: list, rows: list[list]) -> HttpResponse:
    """A header and rows (cells already neutralised) as CSV (UTF-8 with BOM) or xlsx, per ?format=."""
    name = f"{title}-{date}" if date else title
    fmt = request.GET.get("format", "csv")
    if fmt == "xlsx":
        from openpyxl import Workbook

        book = Workbook(write_only=True)
        sheet = book.create_sheet(sheet_title(title))
        sheet.append(header)
        for row in rows:
            sheet.append(row)
        out = io.BytesIO()
        book.save(out)
        out.seek(0)
        return FileResponse(out, as_attachment=True, filename=f"{name}.xlsx")
    if fmt != "csv":
        raise Http404
    text = io.StringIO()
    writer = csv.writer(text)
    writer.writerow(header)
    writer.writerows(rows)
    return FileResponse(io.BytesIO(("\ufeff" + text.getvalue()).encode()), as_attachment=True,
                        filename=f"{name}.csv", content_type="text/csv; charset=utf-8")


# --- the risk list -----------------------------------------------------------------------------------

@login_required
def risk_list(request: HttpRequest) -> HttpResponse:
    """Customers by value at risk (流失风险名单), filtered and sorted; key-set pages."""
    query = risk.RiskQuery.from_params(request.GET, request.user)
    page = query.page(request.GET.get("cursor", ""))
    rows = [risk.row_values(s, page.extra["actions"]) for s in page.items]
    active = query.active()
    headers = []
    for key, label in risk.columns():
        header = {"label": label, "href": "", "arrow": ""}
        if key in risk.SORTABLE:
            header["href"] = "?" + urlencode({**query.filters.active(),
                                              "sort": key if query.sort == f"-{key}" else f"-{key}"})
            header["arrow"] = {f"-{key}": "↓", key: "↑"}.get(query.sort, "")
        headers.append(header)
    return render(request, "segments/risk.html", {
        "tab": "risk", "run": reports.latest_run(), "scoped": not request.user.sees_all_customers,
        "query": query, "filters": query.filters, "rows": rows, "page": page, "headers": headers,
        "columns": risk.columns(), "sorts": [(key, label) for key, (label, _field) in risk.SORTS.items()],
        "choices": risk.choices(request.user), "export_query": urlencode(active),
        "page_query": urlencode(active)})


@login_required
def risk_export(request: HttpRequest) -> HttpResponse:
    """The whole risk list (every page) as CSV or xlsx, with the filters and the sort of the page."""
    query = risk.RiskQuery.from_params(request.GET, request.user)
    segments = query.all_rows()
    actions = risk.suggested_actions(segments)
    header = [neutralise(label) for _key, label in risk.columns()]
    rows = [[_cell({"value": value}) for value in risk.row_values(s, actions).values()] for s in segments]
    run = reports.latest_run()
    return _table_file(request, _("流失风险名单"), f"{run.as_of:%Y%m%d}" if run else "", header, rows)


# --- the customer page section ------------------------------------------------------------------------

# The classes that lead on the customer page, as badges: the 8-class RFM layer and the lifecycle stage. Every
# other classification (RF价值矩阵, 价值等级, 频次等级, ABC, 逾期未购, the churn figures) is in the panel
# 更多分类与指标.
PRIMARY_CLASSES = ("rfm_class", "lifecycle")


def segment_context(request: HttpRequest, customer: Customer) -> dict:
    """The customer's two leading classes as badges, the rest of the classes and figures in a details panel,
    the sentence saying why; recent snapshots for its history."""
    segment = CustomerSegment.objects.filter(customer=customer).first()
    badges, more = [], []
    if segment:
        for column in CLASS_NAMES:
            value = getattr(segment, column)
            if value:
                href = reports.customers_url(**{column: value}) if column in LIST_FILTERS else ""
                text = _("%(abc)s 类") % {"abc": value} if column == "abc_class" else class_label(value)
                item = {"key": column, "label": CLASS_LABELS[column], "value": text, "href": href}
                (badges if column in PRIMARY_CLASSES else more).append(item)
        badges.sort(key=lambda b: PRIMARY_CLASSES.index(b["key"]))
    history = []
    if segment:
        snapshots = SegmentSnapshot.objects.filter(customer=customer).order_by("-as_of")[:6]
        history = [{"as_of": s.as_of, "rfm_class": s.class_name("rfm_class"), "lifecycle": s.class_name("lifecycle")}
                   for s in snapshots]
    # What the classes were compared with (the run's day), and whether they still describe the orders.
    run = segment.run if segment else reports.latest_run()
    metrics = CustomerMetrics.objects.filter(customer=customer).first()
    current = upkeep.describes(segment, metrics) if segment else not (metrics and metrics.frequency)
    churn = None if segment is None or segment.p_alive is None else 1 - segment.p_alive
    return {"customer": customer, "segment": segment, "badges": badges, "more": more, "churn": churn,
            "history": history, "run": run,
            "current": current, "next": reverse("customers:detail", args=[customer.code])}
