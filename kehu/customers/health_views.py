"""The data-health page (数据质量) for admins and managers, and its one fix that is not a page elsewhere:
assigning an owner in bulk. Edit and merge link to the customer's own pages."""

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from .health import CACHE_SECONDS, STALE_MONTHS, assign_unowned, check, record_score
from .models import HealthScore


def _require_manager(user) -> None:
    if not user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以查看数据质量"))


@login_required
def health(request: HttpRequest) -> HttpResponse:
    _require_manager(request.user)
    try:
        months = max(1, min(120, int(request.GET.get("months", STALE_MONTHS))))
    except ValueError:
        months = STALE_MONTHS
    key = f"customer-health:{months}"
    report = None if request.GET.get("refresh") else cache.get(key)
    if report is None:
        report = check(months=months)
        cache.set(key, report, CACHE_SECONDS)
        record_score(report)
    history = list(HealthScore.objects.order_by("-day")[:90])[::-1]
    owners = get_user_model().objects.filter(is_active=True).order_by("username")
    return render(request, "customers/health.html", {
        "report": report, "months": months, "history": history, "owners": owners,
        "chart": {"days": [h.day.isoformat() for h in history], "scores": [h.score for h in history]},
        "section": "health",
    })


@login_required
@require_POST
def assign_owner(request: HttpRequest) -> HttpResponse:
    _require_manager(request.user)
    owner = get_object_or_404(get_user_model(), pk=request.POST.get("owner") or 0, is_active=True)
    codes = [c for c in request.POST.getlist("code") if c]
    count = assign_unowned(owner, by=request.user, codes=codes or None)
    cache.delete_many([f"customer-health:{m}" for m in range(1, 121)])
    messages.success(request, _("已把 %(count)s 个客户分配给 %(owner)s")
                     % {"count": count, "owner": owner.display_name})
    return redirect("customers:health")
