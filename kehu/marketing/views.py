"""Pages of 精准营销: the customer-page section (suggestions and playbook), target lists, campaigns."""

from __future__ import annotations

import io
import random
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST
from django_htmx.http import HttpResponseClientRedirect

from kehu.accounts import audit
from kehu.accounts.models import Role
from kehu.customers.filters import CustomerFilter
from kehu.customers.models import Customer
from kehu.exchange import exports
from kehu.segments.models import CustomerSegment

from . import campaigns, playbooks, pool, sends, targets
from .forms import CampaignForm, TargetListForm
from .models import Campaign, CampaignContact, ContactStatus, TargetList
from .recommend import recommend

MEMBERS_SHOWN = 50
CONTACTS_SHOWN = 200


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
    from_list = CustomerFilter.from_params(request.GET).active()  # "用当前筛选建目标名单" on the customer list
    form = TargetListForm(request.POST or None, initial={"filter_query": urlencode(from_list)})
    if request.method == "POST" and form.is_valid():
        form.instance.created_by = request.user
        tl = form.save()
        messages.success(request, _("目标名单已创建。"))
        return redirect(tl)
    return render(request, "marketing/target_list_form.html", {"form": form})


@login_required
def target_list(request: HttpRequest, pk: int) -> HttpResponse:
    tl = get_object_or_404(TargetList, pk=pk)
    can_run = campaigns.may_run(request.user, tl)
    qs = targets.members(tl, request.user)
    sample = list(qs.select_related("owner", "segment", "preference").order_by("id")[:MEMBERS_SHOWN])
    for c in sample:
        c.contact = c.contact_for(request.user)
    return render(request, "marketing/target_list.html", {
        "tl": tl, "description": targets.describe(tl), "total": qs.count(),
        "reachable": targets.reachable(tl, request.user).count(), "sample": sample, "shown": MEMBERS_SHOWN,
        "contact_field": targets.CONTACT_FIELD[tl.channel], "can_run": can_run,
        "can_export": request.user.sees_contact_details and can_run,
    })


@login_required
def target_list_export(request: HttpRequest, pk: int, fmt: str) -> HttpResponse:
    tl = get_object_or_404(TargetList, pk=pk)
    campaigns.require_run(request.user, tl)
    targets.check_export(request.user)
    params = QueryDict(mutable=True)
    params["list"] = str(tl.pk)
    rows = targets.reachable(tl, request.user).count()
    audit.record(request.user, audit.AuditAction.EXPORT, f"目标名单：{tl.name}",
                 {"format": fmt, "channel": tl.channel, "rows": rows})
    return exports.respond("target-list", "csv" if fmt == "csv" else "xlsx", params, request.user, total=rows)


# ---------- campaigns ----------

@login_required
def campaign_list(request: HttpRequest) -> HttpResponse:
    return render(request, "marketing/campaigns.html", {
        "campaigns": Campaign.objects.select_related("target_list", "created_by")})


@login_required
def campaign_new(request: HttpRequest) -> HttpResponse:
    _editor(request)
    form = CampaignForm(request.POST or None, initial={"target_list": request.GET.get("list")}, user=request.user)
    if request.method == "POST" and form.is_valid():
        campaign = form.save(commit=False)
        campaign.channel = campaign.target_list.channel
        campaign.seed = random.SystemRandom().randrange(1, 2**31)
        campaign.created_by = request.user
        campaign.save()
        campaigns.prepare(campaign, request.user)
        messages.success(request, _("营销活动已创建。"))
        return redirect(campaign)
    return render(request, "marketing/campaign_form.html", {"form": form})


@login_required
def campaign(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Campaign.objects.select_related("target_list"), pk=pk)
    visible = Customer.objects.visible_to(request.user)
    contacts = list(item.contacts.filter(customer__in=visible).select_related("customer", "by")[:CONTACTS_SHOWN])
    consenting = campaigns.consenting_ids(item, [c.customer_id for c in contacts])
    for c in contacts:
        c.consented = c.customer_id in consenting
    return render(request, "marketing/campaign.html", {
        "campaign": item, "contacts": contacts, "results": campaigns.results(item), "shown": CONTACTS_SHOWN,
        "pending": item.contacts.filter(status=ContactStatus.PENDING,
                                        customer__in=visible).count(), "can_run": campaigns.may_run(request.user, item),
        "by_hand": campaigns.is_by_hand(item), "example": campaigns.merge(
            item.message, _("张三"), _("商品A、商品B"), item.offer),
        **_send_context(sends.latest(item)),
    })


def _send_context(send) -> dict:
    return {"send": send, "send_active": send is not None and not send.finished,
            "outcome": sends.outcome(send) if send is not None and send.finished else ""}


@login_required
@require_POST
def campaign_send(request: HttpRequest, pk: int) -> HttpResponse:
    """Queue the e-mails; the campaign page shows the send's progress."""
    item = get_object_or_404(Campaign, pk=pk, channel="email")
    campaigns.require_run(request.user, item)
    try:
        send = sends.start(item, request.user)
    except sends.AlreadySending as exc:
        messages.warning(request, exc.message())
        return redirect(item)
    if send.finished:  # sent in this request (KEHU_CAMPAIGN_BACKGROUND = False)
        (messages.success if send.status == send.Status.DONE else messages.error)(request, sends.outcome(send))
    return redirect(item)


@login_required
def campaign_sending(request: HttpRequest, pk: int, send: str) -> HttpResponse:
    """A send's progress (HTMX polls it every second); once it ended, the campaign page again, with its contacts."""
    item = get_object_or_404(Campaign, pk=pk)
    found = sends.find(item, send)
    if found is None:
        raise Http404
    if found.finished or not request.htmx:
        return HttpResponseClientRedirect(item.get_absolute_url()) if request.htmx else redirect(item)
    return render(request, "marketing/_send.html", {"campaign": item, **_send_context(found)})


@login_required
@require_POST
def campaign_mark(request: HttpRequest, pk: int, contact_pk: int) -> HttpResponse:
    contact = get_object_or_404(CampaignContact.objects.select_related("campaign"), pk=contact_pk, campaign_id=pk,
                                customer__in=Customer.objects.visible_to(request.user),
                                status=ContactStatus.PENDING)
    campaigns.require_run(request.user, contact.campaign)
    try:
        campaigns.mark_contacted(contact, request.user)
    except campaigns.NoConsent:
        messages.error(request, _("该客户未同意通过此渠道接收营销信息。"))
    return redirect(contact.campaign)


@login_required
def campaign_sms_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The contacts still to text, as the SMS provider's bulk upload (CSV, UTF-8 with BOM)."""
    item = get_object_or_404(Campaign, pk=pk, channel="sms")
    buffer = io.StringIO()
    buffer.write("\ufeff")
    count = campaigns.export_sms_csv(item, request.user, buffer)
    audit.record(request.user, audit.AuditAction.EXPORT, f"营销活动：{item.name}",
                 {"format": "csv", "channel": item.channel, "rows": count})
    response = HttpResponse(buffer.getvalue().encode("utf-8"), content_type="text/csv; charset=utf-8")
    filename = f"短信群发-{item.name}-{timezone.localdate():%Y%m%d}.csv"
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=filename)
    return response


@login_required
@require_POST
def campaign_sms_sent(request: HttpRequest, pk: int) -> HttpResponse:
    item = get_object_or_404(Campaign, pk=pk, channel="sms")
    done = campaigns.mark_sms_sent(item, request.user)
    messages.success(request, _("已将 %(n)s 位客户标记为已发送。") % {"n": done})
    return redirect(item)


# ---------- the pool (公海) ----------

POOL_SHOWN = 200


@login_required
def pool_page(request: HttpRequest) -> HttpResponse:
    customers = pool.pool().select_related("segment").order_by("-id")
    return render(request, "marketing/pool.html", {
        "customers": customers[:POOL_SHOWN], "total": customers.count(), "shown": POOL_SHOWN,
        "can_claim": request.user.role == Role.SALES})


@login_required
@require_POST
def pool_claim(request: HttpRequest, code: str) -> HttpResponse:
    if request.user.role != Role.SALES:
        raise PermissionDenied
    customer = get_object_or_404(Customer, code=code)
    if pool.claim(customer, request.user):
        messages.success(request, _("已领取客户 %(name)s，您现在是负责人。") % {"name": customer.name})
        return redirect(customer)
    messages.error(request, _("该客户已被其他同事领取。"))
    return redirect("marketing:pool")
