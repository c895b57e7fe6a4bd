"""Rights on campaign actions (issue 11, item 3): sending, preparing and exporting need a manager/admin or the
creator, and reach only the customers the sender may see; an unreachable SMTP server is a clear message."""

import socket

from django.test import Client
from django.urls import reverse

from kehu.engagement.models import Consent
from kehu.marketing import campaigns
from kehu.marketing.models import Campaign, CampaignContact, ContactStatus, TargetList
from tests.marketing.test_campaigns import email_campaign, segmented, smtp  # noqa: F401 (smtp is a fixture)


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


EMAILS = {"王芳": "wangfang@example.com", "赵强": "zhaoqiang@example.com"}


def _consenting(name: str, owner=None):
    c = segmented(name, email=EMAILS[name], owner=owner)
    Consent.objects.create(customer=c, channel="email", granted=True)
    return c


def test_a_sales_rep_cannot_send_a_managers_campaign(smtp, mary, sam):  # noqa: F811
    _consenting("王芳", owner=sam)
    _consenting("赵强")
    campaign = email_campaign(created_by=mary)
    campaigns.prepare(campaign, mary)
    answer = _web(sam).post(reverse("marketing:campaign_send", args=[campaign.pk]))
    assert answer.status_code == 403 and smtp.messages == []
    assert set(campaign.contacts.values_list("status", flat=True)) == {ContactStatus.PENDING}


def test_a_reps_own_campaign_reaches_only_the_reps_customers(smtp, mary, sam):  # noqa: F811
    mine = _consenting("王芳", owner=sam)
    _consenting("赵强")
    campaign = email_campaign(created_by=sam)
    campaigns.prepare(campaign, mary)  # contacts drawn as the manager sees them: both customers
    assert campaign.contacts.count() == 2
    _web(sam).post(reverse("marketing:campaign_send", args=[campaign.pk]))
    assert [m["to"] for m in smtp.messages] == [[mine.email]]
    assert campaign.contacts.get(customer__name="赵强").status == ContactStatus.PENDING


def test_an_unreachable_smtp_server_is_a_clear_message_not_a_server_error(mary, settings):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_USE_TLS = "127.0.0.1", port, False
    _consenting("王芳")
    campaign = email_campaign(created_by=mary)
    campaigns.prepare(campaign, mary)
    web = _web(mary)
    answer = web.post(reverse("marketing:campaign_send", args=[campaign.pk]), follow=True)
    text = answer.content.decode()
    assert answer.status_code == 200 and f"无法连接邮件服务器 127.0.0.1:{port}" in text
    assert campaign.contacts.get().status == ContactStatus.PENDING  # nothing marked failed or sent


def test_a_campaign_is_prepared_only_from_ones_own_target_list_unless_manager(mary, sam):
    _consenting("王芳", owner=sam)
    managers = TargetList.objects.create(name="经理的名单", channel="email", created_by=mary)
    own = TargetList.objects.create(name="我的名单", channel="email", created_by=sam)
    form = {"name": "活动", "subject": "s", "message": "m", "offer": "", "holdout_percent": 0, "attribution_days": 7}
    web = _web(sam)
    web.post(reverse("marketing:campaign_new"), {**form, "target_list": managers.pk})
    assert not Campaign.objects.exists()
    assert web.post(reverse("marketing:campaign_new"), {**form, "target_list": own.pk}).status_code == 302
    assert Campaign.objects.get().target_list == own
    _web(mary).post(reverse("marketing:campaign_new"), {**form, "name": "经理活动", "target_list": own.pk})
    assert Campaign.objects.filter(name="经理活动").exists()


def test_a_target_list_is_exported_by_a_manager_or_its_creator_only(mary, sue):
    _consenting("王芳")
    managers = TargetList.objects.create(name="经理的名单", channel="email", created_by=mary)
    own = TargetList.objects.create(name="客服的名单", channel="email", created_by=sue)
    web = _web(sue)
    assert web.get(reverse("marketing:target_list_export", args=[managers.pk, "csv"])).status_code == 403
    mine = web.get(reverse("marketing:target_list_export", args=[own.pk, "csv"]))
    assert mine.status_code == 200 and "王芳" in mine.getvalue().decode("utf-8-sig")
    assert _web(mary).get(reverse("marketing:target_list_export", args=[own.pk, "csv"])).status_code == 200


def test_marking_a_phone_contact_needs_the_campaign_rights(mary, sam):
    c = segmented("王芳", owner=sam)
    Consent.objects.create(customer=c, channel="phone", granted=True)
    tl = TargetList.objects.create(name="回访", channel="phone", segment_column="rfm_class",
                                   segment_class="重要价值客户", created_by=mary)
    campaign = Campaign.objects.create(name="回访", target_list=tl, channel="phone", created_by=mary)
    campaigns.prepare(campaign, mary)
    contact = CampaignContact.objects.get()
    url = reverse("marketing:campaign_mark", args=[campaign.pk, contact.pk])
    assert _web(sam).post(url).status_code == 403
    contact.refresh_from_db()
    assert contact.status == ContactStatus.PENDING
    _web(mary).post(url)
    contact.refresh_from_db()
    assert contact.status == ContactStatus.CONTACTED
