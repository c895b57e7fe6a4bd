"""Campaigns: e-mail through a real local SMTP server (aiosmtpd), hand marking, hold-out, attribution."""

import datetime
import email
import email.policy
import socket
from decimal import Decimal

import pytest
from aiosmtpd.controller import Controller
from django.urls import reverse
from django.utils import timezone

from kehu.engagement.models import Consent
from kehu.marketing import campaigns
from kehu.marketing.models import Campaign, CampaignContact, ContactStatus, TargetList
from kehu.sales.models import Order, OrderLine, OrderStatus, Product
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer


class Inbox:
    def __init__(self):
        self.messages = []

    async def handle_DATA(self, server, session, envelope):
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append({"to": envelope.rcpt_tos, "subject": str(msg["Subject"]),
                              "body": msg.get_body().get_content().strip()})
        return "250 OK"


@pytest.fixture
def smtp(settings):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_USE_TLS = False
    settings.DEFAULT_FROM_EMAIL = "shop@example.com"
    yield inbox
    controller.stop()


def segmented(name, rfm_class="重要价值客户", **fields):
    c = make_customer(name=name, **fields)
    CustomerSegment.objects.create(customer=c, changed_on=datetime.date.today(), rfm_class=rfm_class)
    return c


def email_campaign(**fields):
    tl = TargetList.objects.create(name="重要价值邮件", segment_column="rfm_class", segment_class="重要价值客户",
                                   channel="email")
    return Campaign.objects.create(**{"name": "双十一", "target_list": tl, "channel": "email",
                                      "subject": "{姓名}，双十一专享", "offer": "满200减30",
                                      "message": "{姓名}您好！为您推荐：{推荐商品}。优惠：{优惠}", **fields})


def test_e_mail_arrives_with_merge_fields_only_for_consenting_customers(smtp, mary):
    yes = segmented("王芳", email="wangfang@example.com")
    no = segmented("赵强", email="zhaoqiang@example.com")
    never = segmented("钱多", email="qianduo@example.com")
    Consent.objects.create(customer=yes, channel="email", granted=True)
    Consent.objects.create(customer=no, channel="email", granted=False)
    # 王芳 bought 茶叶 with 茶具 once (as did 钱多), so 茶具 is what the co-purchase suggests to her
    tea, cups = Product.objects.create(name="茶叶"), Product.objects.create(name="茶具")
    for customer, products in ((yes, [tea]), (never, [tea, cups])):
        order = Order.objects.create(customer=customer, amount=Decimal("50"))
        for p in products:
            OrderLine.objects.create(order=order, product=p, product_name=p.name, unit_price=Decimal("25"))
    campaign = email_campaign()
    assert campaigns.prepare(campaign, mary) == 3
    counts = campaigns.send_email(campaign, mary)
    assert counts == {"sent": 1, "no_consent": 2, "failed": 0}
    assert smtp.messages == [{"to": ["wangfang@example.com"], "subject": "王芳，双十一专享",
                              "body": "王芳您好！为您推荐：茶具。优惠：满200减30"}]
    sent = CampaignContact.objects.get(customer=yes)
    assert sent.status == ContactStatus.SENT and sent.by == mary and sent.contacted_at
    refused = CampaignContact.objects.filter(status=ContactStatus.NO_CONSENT)
    assert set(refused.values_list("customer__name", flat=True)) == {"赵强", "钱多"}
    assert campaigns.send_email(campaign, mary) == {"sent": 0, "no_consent": 0, "failed": 0}  # never twice
    assert len(smtp.messages) == 1


def test_the_send_button_sends_through_the_configured_server(smtp, client, mary):
    c = segmented("孙丽", email="sunli@example.com")
    Consent.objects.create(customer=c, channel="email", granted=True)
    client.force_login(mary)
    response = client.post(reverse("marketing:campaign_new"), {
        "name": "会员日", "target_list": email_campaign().target_list.pk, "subject": "会员日",
        "message": "{姓名}，会员日{优惠}", "offer": "九折", "holdout_percent": 0, "attribution_days": 7})
    campaign = Campaign.objects.get(name="会员日")
    assert response.status_code == 302 and campaign.contacts.count() == 1
    client.post(reverse("marketing:campaign_send", args=[campaign.pk]))
    assert [m["body"] for m in smtp.messages] == ["孙丽，会员日九折"]
    page = client.get(campaign.get_absolute_url()).content.decode()
    assert "已发送" in page


def test_the_hold_out_group_is_the_asked_share_and_follows_the_seed(db, mary):
    for i in range(10):
        segmented(f"客户{i}")
    first = email_campaign(holdout_percent=30, seed=42)
    campaigns.prepare(first, mary)
    second = email_campaign(holdout_percent=30, seed=42)
    campaigns.prepare(second, mary)
    held = set(first.contacts.filter(status=ContactStatus.HOLDOUT).values_list("customer_id", flat=True))
    assert len(held) == 3
    assert held == set(second.contacts.filter(status=ContactStatus.HOLDOUT).values_list("customer_id", flat=True))


def test_wechat_and_phone_contacts_are_marked_by_hand_with_consent_only(client, mary):
    ok, refused = segmented("周一"), segmented("吴二")
    Consent.objects.create(customer=ok, channel="phone", granted=True)
    tl = TargetList.objects.create(name="电话", segment_column="rfm_class", segment_class="重要价值客户",
                                   channel="phone")
    campaign = Campaign.objects.create(name="回访", target_list=tl, channel="phone", message="问候")
    campaigns.prepare(campaign, mary)
    client.force_login(mary)
    for customer in (ok, refused):
        contact = campaign.contacts.get(customer=customer)
        client.post(reverse("marketing:campaign_mark", args=[campaign.pk, contact.pk]))
    assert dict(campaign.contacts.values_list("customer__name", "status")) == {"周一": "contacted", "吴二": "pending"}
    campaign.refresh_from_db()
    assert campaign.started_at is not None


def test_attribution_matches_the_hand_computed_case(db, mary):
    """Contacted 20 days ago, 14-day window: 甲 ¥100 (day 2) counts, ¥50 (day 20) and ¥30 (day −1) do not;
    乙 nothing; 丙 ¥200 (13 days 23 hours) counts, a refunded ¥999 does not. Hold-out: 丁 ¥80 (day 5), 戊 nothing.
    Contacted 2/3 = 66.7 %, ¥300, ¥100 each; hold-out 1/2 = 50 %, ¥80, ¥40 each; lift 16.7 points.
    Per class (重要价值客户: 甲, 丙, 丁; 一般价值客户: 乙, 戊): 2/2 ¥300 vs 1/1 ¥80; 0/1 vs 0/1."""
    start = timezone.now() - datetime.timedelta(days=20)
    classes = {"甲": "重要价值客户", "乙": "一般价值客户", "丙": "重要价值客户",
               "丁": "重要价值客户", "戊": "一般价值客户"}
    people = {n: segmented(n, cls) for n, cls in classes.items()}
    tl = TargetList.objects.create(name="全部", channel="phone")
    campaign = Campaign.objects.create(name="回访", target_list=tl, channel="phone", message="问候",
                                       attribution_days=14, started_at=start)
    for name, status in (("甲", "contacted"), ("乙", "contacted"), ("丙", "contacted"), ("丁", "holdout"),
                         ("戊", "holdout")):
        CampaignContact.objects.create(campaign=campaign, customer=people[name], status=status,
                                       contacted_at=start if status == "contacted" else None)

    def order(name, amount, delta, status=OrderStatus.COMPLETED):
        Order.objects.create(customer=people[name], amount=Decimal(amount), ordered_at=start + delta, status=status)

    day = datetime.timedelta(days=1)
    order("甲", "100", 2 * day)
    order("甲", "50", 20 * day)
    order("甲", "30", -day)
    order("丙", "200", 14 * day - datetime.timedelta(hours=1))
    order("丙", "999", 3 * day, status=OrderStatus.REFUNDED)
    order("丁", "80", 5 * day)
    r = campaigns.results(campaign)
    assert (r.contacted.customers, r.contacted.converted, r.contacted.orders, r.contacted.revenue) == (3, 2, 2, 300)
    assert (r.holdout.customers, r.holdout.converted, r.holdout.revenue) == (2, 1, 80)
    assert r.contacted.rate == pytest.approx(2 / 3) and r.holdout.rate == 0.5
    assert r.lift == pytest.approx(2 / 3 - 0.5)
    assert (r.contacted.revenue_per_customer, r.holdout.revenue_per_customer) == (Decimal("100.00"), Decimal("40.00"))
    big, small = r.by_segment["重要价值客户"], r.by_segment["一般价值客户"]
    assert (big["contacted"].converted, big["contacted"].revenue, big["holdout"].converted, big["holdout"].revenue) \
        == (2, 300, 1, 80)
    assert (small["contacted"].customers, small["contacted"].converted, small["holdout"].converted) == (1, 0, 0)


def test_merge_leaves_other_braces_alone():
    assert campaigns.merge("{姓名}：{x}{优惠}{推荐商品}", "张三", "茶具", "九折") == "张三：{x}九折茶具"
