"""Live collaboration: a page showing a customer polls its version and learns when someone else saved it.

The customer page and the edit form poll `customer_version` every 10 s (HTMX). The answer is a tiny
fragment: empty while the version the page was rendered from is still current, otherwise a banner naming
who changed the customer and when. Saving a stale edit form still ends in the conflict view (views.py),
which lists what the other person changed; nothing is ever overwritten silently.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_GET

from .models import Customer

POLL_SECONDS = 10


@login_required
@require_GET
def customer_version(request: HttpRequest, code: str) -> HttpResponse:
    """?v=<version the page shows>&mode=view|edit → a banner if the customer has moved on (JSON on request)."""
    customer = get_object_or_404(
        Customer.objects.visible_to(request.user).select_related("updated_by").only(
            "code", "version", "updated_at", "updated_by__username", "updated_by__first_name",
            "updated_by__last_name"),
        code=code)
    changed_by = customer.updated_by.display_name if customer.updated_by else ""
    if request.GET.get("format") == "json":
        return JsonResponse({"code": customer.code, "version": customer.version, "changed_by": changed_by,
                             "changed_at": customer.updated_at.isoformat()})
    try:
        seen = int(request.GET.get("v", ""))
    except ValueError:
        seen = customer.version
    stale = customer.version > seen
    by_me = customer.updated_by_id == request.user.pk
    return render(request, "customers/_live_banner.html", {
        "customer": customer, "stale": stale and not by_me, "changed_by": changed_by,
        "editing": request.GET.get("mode") == "edit",
    })
