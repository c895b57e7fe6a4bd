"""Customer pages: the list, the customer page, create, edit and delete.

Who may see what is decided here and in `Customer.objects.visible_to`, never only in templates:
a sales rep gets 404 for a customer someone else owns, a viewer gets 403 on every write.
"""

import datetime
import json
from dataclasses import fields
from decimal import Decimal
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Max, Sum
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop
from django.views.decorators.http import require_http_methods, require_POST

from kehu.accounts import audit
from kehu.lib import ages
from kehu.lib.counting import list_total
from kehu.lib.pagination import keyset_page

from .columns import COLUMNS, FIRST_DIRECTION, parse_columns, with_columns
from .filters import SORTS, CustomerFilter, sort_ordering
from .forms import CustomerForm
from .menus import distinct_values
from .models import CompanySize, Customer, CustomField, Grade, Kind, SavedView, Tag, age_bands
from .services import EditConflict, save_customer_form
from .table import list_rows, unshown_fields

PAGE_SIZE = 50
# The sort labels live in filters.SORTS (Chinese); listed here so makemessages offers them for translation.
SORT_LABELS = [gettext_noop(label) for label in (
    "最新录入", "最早录入", "注册时间（新→旧）", "注册时间（旧→新）", "姓名", "客户编号")]


# ---------- helpers other apps' views use too ----------

def require_editor(user) -> None:
    if not user.can_edit_customers:
        raise PermissionDenied(_("您的角色不能修改客户资料"))


def customer_or_404(request: HttpRequest, code: str, *, write: bool = False) -> Customer:
    """The customer `code` if the user may see it (404 otherwise); `write` also demands edit rights (403)."""
    if write:
        require_editor(request.user)
    return get_object_or_404(Customer.objects.visible_to(request.user), code=code)


def render_section(request: HttpRequest, customer: Customer, template: str, context: dict, *,
                   saved: bool, anchor: str = "") -> HttpResponse:
    """After a POST on the customer page: HTMX gets the refreshed section; a plain browser is sent back.
    A save is confirmed with 已保存 either way (a toast, or a message on the page it lands on)."""
    if request.htmx:
        response = render(request, template, context)
        return confirm_saved(request, response) if saved else response
    if saved:
        messages.success(request, _("已保存"))
        return redirect(customer.get_absolute_url() + (f"#{anchor}" if anchor else ""))
    return render(request, "web/section_page.html", {**context, "section_template": template})


def confirm_saved(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """An HTMX answer to a save asks the page for a short 已保存 toast (kehu.js listens for kehu-saved)."""
    response["HX-Trigger"] = json.dumps({"kehu-saved": _("已保存")})
    return response


def key_figures(customer: Customer) -> dict:
    """Orders, total and average spend, last purchase: one aggregate over completed orders."""
    figures = customer.orders.completed().aggregate(orders=Count("id"), total=Sum("amount"), last=Max("ordered_at"))
    figures["average"] = (
        (figures["total"] / figures["orders"]).quantize(Decimal("0.01")) if figures["orders"] else None
    )
    figures["days_since"] = (timezone.localdate() - timezone.localtime(figures["last"]).date()).days \
        if figures["last"] else None
    return figures


# ---------- list ----------

def _filter_options(user, province: str) -> dict:
    """Choices for the filter form, only on full-page loads."""
    return {
        "provinces": distinct_values(user, "province"),
        "cities": distinct_values(user, "city", province),
        "industries": distinct_values(user, "industry"),
        "tags": list(Tag.objects.values_list("name", flat=True)),
        "owners": [(u.pk, u.display_name) for u in get_user_model().objects.filter(is_active=True).order_by("username")]
        if user.sees_all_customers else [],
        "abc_classes": [(c, f"{c} {_('类')}") for c in "ABC"],
        "sizes": CompanySize.choices,
        "grades": Grade.choices,
        "kinds": Kind.choices,
        "genders": [("male", _("男")), ("female", _("女")), ("unknown", _("未知"))],
        "age_bands": [(key, ages.label(key)) for key in age_bands().keys] + [("unknown", _("未知"))],
        "sorts": sort_choices(),
    }


def sort_choices() -> list[tuple[str, str]]:
    """Every sort the list offers: the classic ones, then each sortable column both ways."""
    choices = [(value, _(label)) for value, label in SORTS.items()]
    for key, column in COLUMNS.items():
        if not column.sortable:
            continue
        for value, arrow in ((f"-{key}", "↓"), (key, "↑")):
            if value not in SORTS:
                choices.append((value, f"{column.title()} {arrow}"))
    return choices


def column_headers(keys: list[str], sort: str) -> list[dict]:
    """The table's header cells: label, and for a sortable column the sort a click gives (the other direction
    when it is the current sort) and the arrow showing the current one."""
    headers = []
    for key in keys:
        column = COLUMNS[key]
        head = {"key": key, "label": column.title(), "numeric": column.numeric, "sort": "", "arrow": ""}
        if column.sortable:
            if sort == key:
                head.update(sort=f"-{key}", arrow="↑")
            elif sort == f"-{key}":
                head.update(sort=key, arrow="↓")
            else:
                head["sort"] = f"{FIRST_DIRECTION.get(key, '-')}{key}"
        headers.append(head)
    return headers


@login_required
def customer_list(request: HttpRequest) -> HttpResponse:
    flt = CustomerFilter.from_params(request.GET)
    keys = parse_columns(request.GET)
    qs = flt.apply(Customer.objects.visible_to(request.user), request.user)
    total = list_total(qs, whole_table=request.user.sees_all_customers and not flt.active())
    shown = with_columns(qs, keys).defer(*unshown_fields(keys))
    page = keyset_page(shown, sort_ordering(flt.sort), request.GET.get("cursor", ""), PAGE_SIZE)
    if request.user.sees_contact_details and page.items:
        audit.record(request.user, audit.AuditAction.VIEW_LIST, codes=[c.code for c in page.items])
    context = {"filter": flt, "page": page, "rows": list_rows(page.items, keys, request.user),
               "saved_views": list(SavedView.objects.filter(user=request.user)),
               "view_query": saved_query(request.GET),
               "is_first_page": not request.GET.get("cursor"), "total": total,
               "headers": column_headers(keys, flt.sort), "cols": keys,
               "chosen_cols": "cols" in request.GET,
               "column_choices": [(c.key, c.title(), _(c.group), c.key in keys) for c in COLUMNS.values()]}
    if request.htmx and not request.htmx.boosted:
        return render(request, "customers/list.html#table", context)
    context.update(_filter_options(request.user, flt.province))
    return render(request, "customers/list.html", context)


# ---------- saved views (我的视图): columns, filters and sort per user ----------

def saved_query(params) -> str:
    """The list's query string as a view keeps it: the filters, the columns and the sort; no page cursor."""
    known = {f.name for f in fields(CustomerFilter)} | {"cols"}
    pairs = [(key, value) for key, values in params.lists() if key in known for value in values if value]
    return urlencode(pairs)


@login_required
@require_POST
def saved_view_save(request: HttpRequest) -> HttpResponse:
    name = request.POST.get("name", "").strip()[:40]
    if not name:
        messages.error(request, _("请给视图起个名字"))
        return redirect(reverse("customers:list") + "?" + request.POST.get("query", ""))
    view, _created = SavedView.objects.update_or_create(
        user=request.user, name=name, defaults={"query": saved_query(QueryDict(request.POST.get("query", "")))})
    messages.success(request, _("已保存视图“%(name)s”") % {"name": view.name})
    return redirect(view.get_absolute_url())


@login_required
@require_POST
def saved_view_delete(request: HttpRequest, pk: int) -> HttpResponse:
    view = get_object_or_404(SavedView, pk=pk, user=request.user)  # someone else's view is a 404
    view.delete()
    messages.success(request, _("已删除视图“%(name)s”") % {"name": view.name})
    return redirect("customers:list")


# ---------- the customer page ----------

@login_required
def customer_detail(request: HttpRequest, code: str) -> HttpResponse:
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user).select_related("owner").prefetch_related("tags"), code=code)
    extra = customer.extra or {}
    custom_fields = [(cf.label, extra[cf.key]) for cf in CustomField.objects.all() if extra.get(cf.key) not in
                     (None, "")]
    if request.user.sees_contact_details:
        audit.record(request.user, audit.AuditAction.VIEW, customer)
    return render(request, "customers/detail.html", {
        "customer": customer,
        "contact": customer.contact_for(request.user),
        "custom_fields": custom_fields,
        "figures": key_figures(customer),
        "merge_url": reverse("customers:merge", args=[customer.code]) if request.user.can_manage else "",
    })


# ---------- create, edit, delete ----------

@login_required
@require_http_methods(["GET", "POST"])
def customer_create(request: HttpRequest) -> HttpResponse:
    require_editor(request.user)
    form = CustomerForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        customer = save_customer_form(form)
        messages.success(request, _("已新建客户 %(name)s（%(code)s）") % {"name": customer.name, "code": customer.code})
        return redirect(customer)
    return render(request, "customers/form.html", {
        "form": form, "duplicate": form.duplicate_of})


def _shown(value, field) -> str:
    """A form or model value as a person reads it, for the conflict comparison."""
    if value in (None, "", [], ()):
        return "—"
    if isinstance(value, list | tuple):
        return "、".join(str(v) for v in value)
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, datetime.date):
        return value.isoformat()
    choices = getattr(field, "choices", None)
    if choices is not None and not hasattr(field, "queryset"):
        return str(dict(choices).get(value, value))
    return str(value)


def conflict_rows(form: CustomerForm, current: Customer) -> list[tuple[str, str, str]]:
    """(field label, value saved by the other person, value this person typed) where they differ."""
    rows = []
    current_tags = sorted(t.name for t in current.tags.all())
    for name, field in form.fields.items():
        if name == "version":
            continue
        mine = form.cleaned_data.get(name)
        if name.startswith("cf_"):
            theirs = (current.extra or {}).get(name[3:])
        elif name == "tag_names":
            theirs = current_tags
        else:
            theirs = getattr(current, name, None)
        if _shown(mine, field) != _shown(theirs, field):
            rows.append((str(field.label), _shown(theirs, field), _shown(mine, field)))
    return rows


@login_required
@require_http_methods(["GET", "POST"])
def customer_edit(request: HttpRequest, code: str) -> HttpResponse:
    customer = customer_or_404(request, code, write=True)
    conflict, changes = None, []
    if request.method == "POST":
        form = CustomerForm(request.POST, instance=customer, user=request.user)
        if form.is_valid():
            try:
                saved = save_customer_form(form)
            except EditConflict as exc:
                # Nothing was saved. Keep what the person typed, show what the other person saved,
                # and arm the form with the current version: saving again is a deliberate choice.
                conflict, changes = exc, conflict_rows(form, exc.current)
                data = request.POST.copy()
                data["version"] = str(exc.current.version)
                form = CustomerForm(data, instance=exc.current, user=request.user)
            else:
                messages.success(request, _("已保存客户 %(name)s 的资料") % {"name": saved.name})
                return redirect(saved)
    else:
        form = CustomerForm(instance=customer, user=request.user)
    return render(request, "customers/form.html", {
        "form": form, "customer": customer, "conflict": conflict, "changes": changes,
        "duplicate": form.duplicate_of,
    }, status=409 if conflict else 200)


@login_required
@require_http_methods(["GET", "POST"])
def customer_delete(request: HttpRequest, code: str) -> HttpResponse:
    if not request.user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以删除客户"))
    customer = customer_or_404(request, code)
    if request.method == "POST":
        name, code = customer.name, customer.code
        customer.delete()
        messages.success(request, _("已删除客户 %(name)s（%(code)s）") % {"name": name, "code": code})
        return redirect("customers:list")
    return render(request, "customers/delete.html", {
        "customer": customer,
        "counts": {
            _("消费记录"): customer.orders.count(),
            _("沟通记录"): customer.communications.count(),
            _("跟进任务"): customer.follow_ups.count(),
            _("客户反馈"): customer.feedback.count(),
        },
    })
