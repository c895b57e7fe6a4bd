"""来电查询 (caller lookup): find the customer an exact mobile belongs to, one call at a time (see probes.py)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from kehu.lib.phones import InvalidMobile

from . import probes


@login_required
@require_http_methods(["GET", "POST"])
def caller_lookup(request: HttpRequest) -> HttpResponse:
    """POST only, so the number never lands in a URL or an access log."""
    context: dict = {"limit": probes.lookups_per_hour()}
    status = 200
    if request.method == "POST":
        context["searched"] = True
        try:
            customer = probes.caller_lookup(request.user, request.POST.get("mobile", "")[:40])
        except InvalidMobile as exc:
            context["error"], status = str(exc), 400
        except probes.RateLimited as exc:
            context["error"], status = probes.rate_limited_message(exc.limit), 429
        else:
            context["customer"] = customer
            if customer is not None:
                context["contact"] = customer.contact_for(request.user)
            else:
                context["not_found"] = _("没有找到您可以查看的客户使用这个手机号。")
    return render(request, "customers/lookup.html", context, status=status)
