"""The import wizard (upload → mapping → preview → run → result) and the export downloads."""

from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from kehu.accounts import audit
from kehu.customers.filters import audit_query, search_hash
from kehu.lib.officecrypto import MAX_PASSWORD

from . import exporters, exports, profiles, uploads
from . import headers as h
from .importer import DUPLICATE_CHOICES, Problem, import_file, revert_batch
from .jobs import job_status, load_sheets, sheet_overrides, start_import
from .mappings import apply_template, load_template, save_template, template_json
from .models import ImportBatch, ImportTemplate
from .readers import Sheet, UnreadableFile, read_workbook, sample_rows
from .reports import write_error_report

SESSION_KEY = "exchange_upload"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DUPLICATE_LABELS = {"update": gettext_lazy("更新已有客户"), "skip": gettext_lazy("跳过已有客户"),
                    "create": gettext_lazy("仍新建客户")}
CONFLICT_LABELS = {"error": gettext_lazy("不导入该行并报告"), "skip": gettext_lazy("跳过该行"),
                   "keep-code": gettext_lazy("合并到已有客户，保留其编号")}


def _require_import(user) -> None:
    if not user.can_edit_customers:
        raise PermissionDenied(_("只读用户不能导入数据"))


class UploadForm(forms.Form):
    file = forms.FileField(label=gettext_lazy("表格文件"))
    on_duplicate = forms.ChoiceField(label=gettext_lazy("遇到已有客户"), choices=list(DUPLICATE_LABELS.items()),
                                     initial="update")
    template = forms.ModelChoiceField(label=gettext_lazy("使用导入模板"), queryset=ImportTemplate.objects.all(),
                                      required=False, empty_label=gettext_lazy("自动识别表头"))

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["file"].help_text = _("xlsx、xls、ods 或 csv（UTF-8 或 GBK 编码），不超过 %(mb)s MB") % {
            "mb": settings.KEHU_UPLOAD_MAX_MB}

    def clean_file(self):
        """A body without a length (chunked) passes UploadLimitMiddleware; its file is measured here."""
        upload = self.cleaned_data["file"]
        if upload.size > settings.KEHU_UPLOAD_MAX_MB * (1 << 20):
            raise forms.ValidationError(f"文件太大：上传的文件不能超过 {settings.KEHU_UPLOAD_MAX_MB} MB，"
                                        "请拆成几个较小的文件分别导入")
        return upload


def _batches_for(user):
    qs = ImportBatch.objects.select_related("user")
    return qs if user.can_manage else qs.filter(user=user)


@login_required
def import_start(request: HttpRequest) -> HttpResponse:
    _require_import(request.user)
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        uploads.sweep()  # the abandoned uploads of earlier wizards go first
        path = uploads.save_upload(form.cleaned_data["file"])
        name = path.name
        try:
            sheets = read_workbook(path)
        except UnreadableFile as exc:
            uploads.discard(path)
            form.add_error("file", str(exc))
        else:
            if form.cleaned_data["template"]:
                apply_template(form.cleaned_data["template"], sheets)
            request.session[SESSION_KEY] = {
                "path": str(path), "name": name, "on_duplicate": form.cleaned_data["on_duplicate"],
                "overrides": _overrides(sheets),
            }
            return redirect("exchange:mapping")
    return render(request, "exchange/import.html", {
        "form": form, "kinds": _kinds(), "templates": ImportTemplate.objects.all(),
        "batches": [(b, b.total("new"), b.total("updated"), b.total("rejected"))
                    for b in _batches_for(request.user)[:20]],
    })


@login_required
def mapping_template_download(request: HttpRequest, pk: int) -> HttpResponse:
    """A saved column mapping as a file, to keep or to use in another kehu."""
    _require_import(request.user)
    template = get_object_or_404(ImportTemplate, pk=pk)
    response = HttpResponse(template_json(template), content_type="application/json; charset=utf-8")
    response["Content-Disposition"] = content_disposition_header(as_attachment=True,
                                                                 filename=f"导入模板-{template.name}.json")
    return response


@login_required
@require_POST
def mapping_template_upload(request: HttpRequest) -> HttpResponse:
    _require_import(request.user)
    upload = request.FILES.get("template_file")
    if upload is None or upload.size > 1 << 20:
        messages.error(request, _("请选择导入模板文件（.json，不超过 1 MB）"))
        return redirect("exchange:import")
    try:
        template = load_template(upload.read(), request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, _("已导入模板“%(name)s”，上传文件时可在“使用导入模板”中选用")
                         % {"name": template.name})
    return redirect("exchange:import")


def _overrides(sheets: list[Sheet]) -> dict:
    return sheet_overrides(sheets)


def _load_sheets(state: dict) -> list[Sheet]:
    return load_sheets(state["path"], state["name"], state["overrides"])


def _field_choices(kind: str | None) -> list[tuple[str, str]]:
    if not kind:
        return []
    fields = list(h.FIELDS[kind]) + list(h.extra_fields(kind).values())
    labels = {}
    if kind == h.CUSTOMERS:
        from kehu.customers.models import CustomField

        labels = {f"cf_{cf.key}": cf.label for cf in CustomField.objects.all()}
    elif kind == h.FEEDBACK:
        from kehu.engagement.models import FeedbackDimension

        labels = {f"score_{d.pk}": _("评分：%(name)s") % {"name": d.name}
                  for d in FeedbackDimension.objects.filter(active=True)}
    return [(f, labels.get(f) or (_(h.LABELS[f]) if f in h.LABELS else f)) for f in dict.fromkeys(fields)]


def _sheet_context(sheets: list[Sheet]) -> list[dict]:
    out = []
    for si, s in enumerate(sheets):
        samples = sample_rows(s, 3) if s.header_row else []
        columns = []
        for ci, header in enumerate(s.headers):
            columns.append({"index": ci, "letter": s.column_letter(ci), "header": header,
                            "field": s.mapping.get(ci, ""),
                            "samples": [row[ci] if ci < len(row) else "" for row in samples]})
        out.append({"index": si, "sheet": s, "columns": columns, "choices": _field_choices(s.kind),
                    "unmapped": [c["header"] for c in columns if c["header"] and not c["field"]]})
    return out


@login_required
def import_mapping(request: HttpRequest) -> HttpResponse:
    _require_import(request.user)
    state = request.session.get(SESSION_KEY)
    if not state or not Path(state["path"]).exists():
        messages.info(request, _("请先上传要导入的文件"))
        return redirect("exchange:import")
    sheets = _load_sheets(state)
    preview = None
    if request.method == "POST":
        for si, s in enumerate(sheets):
            kind = request.POST.get(f"kind-{si}", s.kind or "")
            kind = kind if kind in h.KINDS else ""
            if kind != (s.kind or ""):  # another kind: recognise the headers again for it
                mapping = h.map_headers(s.headers, kind, h.extra_fields(kind)) if kind else {}
            else:
                allowed = {f for f, _ in _field_choices(kind)}
                mapping, taken = {}, set()
                for ci in range(len(s.headers)):
                    field = request.POST.get(f"col-{si}-{ci}", "")
                    if field in allowed and (field not in taken or field in profiles.JOINED):
                        mapping[ci] = field
                        taken.add(field)
            s.remap(kind or None, mapping)
        state["overrides"] = _overrides(sheets)
        if request.POST.get("on_duplicate") in DUPLICATE_CHOICES:
            state["on_duplicate"] = request.POST["on_duplicate"]
        if request.POST.get("on_conflict") in CONFLICT_LABELS:
            state["on_conflict"] = request.POST["on_conflict"]
        request.session[SESSION_KEY] = state
        if name := request.POST.get("template_name", "").strip()[:60]:
            save_template(name, sheets, request.user)
            messages.success(request, _("已保存导入模板“%(name)s”，下次上传同样格式的文件时可直接选用")
                             % {"name": name})
        action = request.POST.get("action")
        if action == "run":
            job = start_import(state["path"], state["name"], sheets, request.user, state["on_duplicate"],
                               state.get("on_conflict", "error"))
            del request.session[SESSION_KEY]
            return redirect("exchange:progress", job=job)
        if action == "preview":
            preview = import_file(state["path"], user=request.user, on_duplicate=state["on_duplicate"],
                                  name=state["name"], sheets=sheets, dry_run=True,
                                  on_conflict=state.get("on_conflict", "error"))
    return render(request, "exchange/mapping.html", {
        "state": state, "sheets": _sheet_context(sheets), "kinds": _kinds(), "preview": preview,
        "duplicate_labels": DUPLICATE_LABELS,
        "conflict_labels": CONFLICT_LABELS,
        "counts": _count_rows(preview.counts) if preview else [],
        "problems": preview.problems[:200] if preview else [],
    })


def _kinds() -> dict[str, str]:
    return {kind: _(label) for kind, label in h.KINDS.items()}


def _count_rows(counts: dict) -> list[dict]:
    rows = []
    for kind in h.KIND_ORDER:
        c = counts.get(kind)
        if c is not None:
            c = c if isinstance(c, dict) else vars(c)
            rows.append({"label": _(h.KINDS[kind]), **c})
    return rows


@login_required
def import_progress(request: HttpRequest, job: str) -> HttpResponse:
    """Rows done so far; once finished, on to the result (HTMX polls this every second)."""
    status = job_status(job, request.user)
    if status is None:
        raise Http404
    if status["batch"]:
        url = reverse("exchange:batch", args=[status["batch"]])
        return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    template = "exchange/progress.html#progress" if request.htmx else "exchange/progress.html"
    return render(request, template, {"status": status, "job": job})


def _batch(request: HttpRequest, pk: int) -> ImportBatch:
    return get_object_or_404(_batches_for(request.user), pk=pk)


@login_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    problems = [Problem(**p) for p in batch.problems[:500]]
    return render(request, "exchange/batch.html", {
        "batch": batch, "counts": _count_rows(batch.counts), "problems": problems,
        "more_problems": max(0, len(batch.problems) - 500),
        "has_report": bool(batch.problems),
        "can_revert": batch.can_revert and (request.user.can_manage or batch.user_id == request.user.pk),
    })


@login_required
def batch_report(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    # While the upload is kept (an import still running), the report repeats the rejected rows; afterwards
    # the file is gone (uploads.py) and the report lists the problems.
    kept = batch.stored_file and Path(batch.stored_file).exists()
    sheets = read_workbook(batch.stored_file, batch.file_name) if kept else []
    problems = [Problem(**p) for p in batch.problems]
    return _xlsx_download(lambda f: write_error_report(sheets, problems, f),
                          f"错误报告-{Path(batch.file_name).stem}.xlsx")


@login_required
@require_POST
def batch_revert(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch(request, pk)
    if not (request.user.can_manage or batch.user_id == request.user.pk):
        raise PermissionDenied
    try:
        done = revert_batch(batch, user=request.user)
    except ValueError as exc:
        messages.error(request, str(exc))
    else:
        uploads.discard(batch.stored_file)
        messages.success(request, _("已撤销这次导入（删除或恢复 %(n)s 条记录）") % {"n": sum(done.values())})
    return redirect("exchange:batch", pk=batch.pk)


# ── downloads ────────────────────────────────────────────────────────────────────────────────

def _download(fileobj, filename: str, content_type: str = XLSX) -> FileResponse:
    response = FileResponse(fileobj, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


def _xlsx_download(write, filename: str) -> FileResponse:
    tmp = exports.spool()
    write(tmp)
    tmp.seek(0)
    return _download(tmp, filename)


def _password(request: HttpRequest) -> str:
    """The optional password from an export form (POST, so it never lands in a URL or a log)."""
    return request.POST.get("password", "")[:MAX_PASSWORD] if request.method == "POST" else ""


def _export(request: HttpRequest, what: str, fmt: str) -> HttpResponse:
    """The rows of the customer list with the same query parameters, masked as the user sees them: downloaded now,
    or, when many, written in the background (exports.py)."""
    if fmt not in ("csv", "xlsx"):
        raise Http404
    password = _password(request)
    audit.record(request.user, audit.AuditAction.EXPORT, what, {
        "format": fmt, "filter": audit_query(request.GET), "search_hash": search_hash(request.GET),
        "masked": not request.user.sees_contact_details,
        "password": bool(password)})
    return exports.respond(what, fmt, request.GET, request.user, password)


@login_required
def customers_export(request: HttpRequest, fmt: str) -> HttpResponse:
    return _export(request, "customers", fmt)


@login_required
def orders_export(request: HttpRequest, fmt: str) -> HttpResponse:
    return _export(request, "orders", fmt)


@login_required
def report_export(request: HttpRequest) -> HttpResponse:
    return _export(request, "report", "xlsx")


@login_required
def export_job(request: HttpRequest, job: str) -> HttpResponse:
    """A background export's progress, then its download link (HTMX polls this every second)."""
    found = exports.find(job, request.user)
    if found is None:
        raise Http404
    template = "exchange/export.html#status" if request.htmx else "exchange/export.html"
    error = _(found.error) if found.status == found.Status.FAILED else ""
    return render(request, template, {"job": found, "error": error})


@login_required
def export_download(request: HttpRequest, job: str) -> HttpResponse:
    """The written file, for the person who asked for it only; deleted once downloaded."""
    found = exports.find(job, request.user)
    response = exports.download(found) if found is not None else None
    if response is None:
        raise Http404
    return response


@login_required
def template_download(request: HttpRequest, kind: str) -> HttpResponse:
    if kind not in h.KINDS:
        raise Http404
    return _xlsx_download(lambda f: exporters.template_workbook(kind, f), f"导入模板-{h.KINDS[kind]}.xlsx")
