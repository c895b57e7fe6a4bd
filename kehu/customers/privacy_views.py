"""PIPL requests on the customer page (admins and managers): export everything about one person, or erase it."""

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from . import privacy
from .views import customer_or_404

CONTENT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def _manager_customer(request: HttpRequest, code: str):
    if not request.user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以处理个人信息请求"))
    return customer_or_404(request, code)


@login_required
def privacy_page(request: HttpRequest, code: str) -> HttpResponse:
    customer = _manager_customer(request, code)
    data = privacy.collect(customer)
    return render(request, "customers/privacy.html", {
        "customer": customer, "counts": [(label, len(rows)) for label, rows in data["sections"].items()],
        "orders": customer.orders.count(),
    })


@login_required
@require_POST
def privacy_export(request: HttpRequest, code: str, fmt: str) -> HttpResponse:
    if fmt not in CONTENT_TYPES:
        raise Http404
    customer = _manager_customer(request, code)
    out = io.BytesIO()
    (privacy.export_xlsx if fmt == "xlsx" else privacy.export_json)(customer, out)
    privacy.record_export(request.user, customer, fmt)
    out.seek(0)
    response = FileResponse(out, content_type=CONTENT_TYPES[fmt])
    filename = f"个人信息-{customer.code}-{timezone.localdate():%Y%m%d}.{fmt}"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


@login_required
@require_http_methods(["GET", "POST"])
def privacy_erase(request: HttpRequest, code: str) -> HttpResponse:
    customer = _manager_customer(request, code)
    orders = customer.orders.count()
    error = ""
    if request.method == "POST":
        if request.POST.get("confirm_code", "").strip().upper() != customer.code.upper():
            error = _("请输入客户编号 %(code)s 以确认") % {"code": customer.code}
        else:
            result = privacy.erase(customer, user=request.user)
            if result.mode == "deleted":
                messages.success(request, _("已删除客户 %(code)s 的全部个人信息") % {"code": result.code})
                return redirect("customers:list")
            messages.success(request, _("已匿名化客户 %(code)s：个人信息已清除，%(n)s 笔订单金额保留用于统计")
                             % {"code": result.code, "n": result.orders})
            return redirect("customers:detail", code=result.code)
    return render(request, "customers/privacy_erase.html", {
        "customer": customer, "orders": orders, "error": error}, status=400 if error else 200)
