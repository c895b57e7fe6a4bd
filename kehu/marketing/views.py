"""Pages of 精准营销: the customer-page section (suggestions and playbook), target lists, campaigns."""

from __future__ import annotations

import io

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _

from kehu.accounts import audit
from kehu.customers.models import Customer
from kehu.segments.models import CustomerSegment

from . import playbooks, targets
from .forms import TargetListForm
from .models import TargetList
from .recommend import recommend

MEMBERS_SHOWN = 50
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def recommendations_context(request: HttpRequest, customer: Customer) -> dict:
    """The customer-page section: what to do with this customer (playbook) and what to suggest."""
    segment = CustomerSegment.objects.filter(customer=customer).first()
    return {
        "customer": customer,
        "actions": playbooks.actions_for(segment),
        "products": recommend([customer.pk]).get(customer.pk, []),
    }


# ---------- target lists ----------

def _editor(request: HttpRequest) -> None:
    if not request.user.can_edit_customers:
        raise PermissionDenied


@login_required
def target_lists(request: HttpRequest) -> HttpResponse:
    lists = list(TargetList.objects.select_related("created_by"))
    for tl in lists:
        tl.description = targets.describe(tl)
    return render(request, "marketing/target_lists.html", {"lists": lists})


@login_required
def target_list_new(request: HttpRequest) -> HttpResponse:
    _editor(request)
    form = TargetListForm(request.POST or None, initial={"filter_query": request.GET.get("filter", "")})
    if request.method == "POST" and form.is_valid():
        form.instance.created_by = request.user
        tl = form.save()
        messages.success(request, _("目标名单已创建。"))
        return redirect(tl)
    return render(request, "marketing/target_list_form.html", {"form": form})


@login_required
def target_list(request: HttpRequest, pk: int) -> HttpResponse:
    tl = get_object_or_404(TargetList, pk=pk)
    qs = targets.members(tl, request.user)
    sample = list(qs.select_related("owner", "segment", "preference").order_by("id")[:MEMBERS_SHOWN])
    for c in sample:
        c.contact = c.contact_for(request.user)
    return render(request, "marketing/target_list.html", {
        "tl": tl, "description": targets.describe(tl), "total": qs.count(),
        "reachable": targets.reachable(tl, request.user).count(), "sample": sample, "shown": MEMBERS_SHOWN,
        "contact_field": targets.CONTACT_FIELD[tl.channel], "can_export": request.user.sees_contact_details,
    })


@login_required
def target_list_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    tl = get_object_or_404(TargetList, pk=pk)
    targets.check_export(request.user)
    name = f"{targets.EXPORT_NAMES[tl.channel]}-{tl.name}-{timezone.localdate():%Y%m%d}"
    if fmt == "csv":
        buffer = io.StringIO()
        buffer.write("\ufeff")
        count = targets.export_csv(tl, request.user, buffer)
        body, content_type, filename = buffer.getvalue().encode("utf-8"), "text/csv; charset=utf-8", f"{name}.csv"
    else:
        out = io.BytesIO()
        count = targets.export_xlsx(tl, request.user, out)
        body, content_type, filename = out.getvalue(), XLSX, f"{name}.xlsx"
    audit.record(request.user, audit.AuditAction.EXPORT, f"目标名单：{tl.name}",
                 {"format": fmt, "channel": tl.channel, "rows": count})
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response
