"""系统设置: the hub that lists the settings pages a user may open (lib/settings_menu.py), and the simple
tables of settings_tables.py (a list with an add form, an edit page per row, delete)."""

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.db.models import ProtectedError
from django.forms import modelform_factory
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from kehu.accounts import audit
from kehu.lib.settings_menu import allowed, pages_for, settings_view

from .settings_tables import TABLES, Table


@settings_view(managers=True)
def hub(request: HttpRequest) -> HttpResponse:
    return render(request, "web/settings/hub.html", {"pages": pages_for(request.user)})


def _table(request: HttpRequest, key: str) -> Table:
    table = TABLES.get(key)
    if table is None:
        raise Http404(key)
    if not allowed(request.user, table.managers):
        raise PermissionDenied(_("只有管理员可以修改这项设置"))
    return table


def _form_class(table: Table):
    return modelform_factory(table.model, fields=table.fields,
                             labels={name: table.label_of(name) for name in table.fields})


def _values(obj, names) -> dict:
    return {name: getattr(obj, name) for name in names}


@settings_view(managers=True)
@require_http_methods(["GET", "POST"])
def table_list(request: HttpRequest, key: str) -> HttpResponse:
    table = _table(request, key)
    form = None
    if table.can_add:
        form = _form_class(table)(request.POST or None)
        if request.method == "POST" and form.is_valid():
            obj = form.save()
            audit.record(request.user, audit.AuditAction.CREATE, obj, {"settings": key, **_values(obj, table.fields)})
            messages.success(request, _("已添加“%(name)s”。") % {"name": obj})
            return redirect("settings_table", key)
    elif request.method == "POST":
        raise PermissionDenied(_("这张表不能新增行"))
    if table.prepare:
        table.prepare()
    rows = [(obj, [table.cell(obj, name) for name in table.columns]) for obj in table.model.objects.all()]
    return render(request, "web/settings/table.html", {"table": table, "rows": rows, "form": form,
                                                       "current": key})


@settings_view(managers=True)
@require_http_methods(["GET", "POST"])
def table_edit(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    table = _table(request, key)
    obj = get_object_or_404(table.model, pk=pk)
    before = _values(obj, table.fields)
    form = _form_class(table)(request.POST or None, instance=obj)
    if request.method == "POST" and form.is_valid():
        obj = form.save()
        changes = {name: [before[name], value] for name, value in _values(obj, table.fields).items()
                   if value != before[name]}
        if changes:
            audit.record(request.user, audit.AuditAction.UPDATE, obj, {"settings": key, "changes": changes})
        messages.success(request, _("已保存。"))
        return redirect("settings_table", key)
    return render(request, "web/settings/table_edit.html", {"table": table, "obj": obj, "form": form,
                                                            "current": key})


@settings_view(managers=True)
@require_POST
def table_delete(request: HttpRequest, key: str, pk: int) -> HttpResponse:
    table = _table(request, key)
    if not table.can_delete:
        raise PermissionDenied(_("这张表的行不能删除"))
    obj = get_object_or_404(table.model, pk=pk)
    label = str(obj)
    try:
        obj.delete()
    except ProtectedError:
        messages.error(request, _("“%(name)s”已被使用，不能删除；可以改为停用。") % {"name": label})
        return redirect("settings_table", key)
    audit.record(request.user, audit.AuditAction.DELETE, label, {"settings": key})
    messages.success(request, _("已删除“%(name)s”。") % {"name": label})
    return redirect("settings_table", key)
