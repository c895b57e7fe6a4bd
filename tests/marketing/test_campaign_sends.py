"""Campaign e-mails are sent by the worker: the page returns at once, a second press is refused while one is under
way, and a send whose worker died is failed with what it sent, nobody getting the mail twice on the next press."""

import socket
import subprocess

from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kehu.engagement.models import Consent
from kehu.marketing import campaigns, sends
from kehu.marketing.models import CampaignSend, ContactStatus
from tests.marketing.test_campaigns import email_campaign, segmented, smtp  # noqa: F401 (smtp is a fixture)


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _audience(user, n: int):
    """A campaign to `n` customers who consented to e-mail."""
    for i in range(n):
        c = segmented(f"客户{i}", email=f"c{i}@example.com")
        Consent.objects.create(customer=c, channel="email", granted=True)
    campaign = email_campaign()
    campaigns.prepare(campaign, user)
    return campaign


def test_the_send_button_queues_and_returns_at_once_and_a_second_press_is_refused(smtp, mary, settings):  # noqa: F811
    settings.KEHU_CAMPAIGN_BACKGROUND = True  # queued after the commit a test never makes: the worker is us
    campaign = _audience(mary, 3)
    web = _web(mary)
    answer = web.post(reverse("marketing:campaign_send", args=[campaign.pk]))
    send = CampaignSend.objects.get()
    assert answer.status_code == 302 and send.status == "queued" and send.total == 3 and smtp.messages == []
    page = web.get(campaign.get_absolute_url()).content.decode()
    assert "等待后台任务开始" in page and "data-send" not in page  # the button is gone while it sends
    again = web.post(reverse("marketing:campaign_send", args=[campaign.pk]), follow=True).content.decode()
    assert "这个活动的邮件正在后台发送" in again and CampaignSend.objects.count() == 1

    assert sends.run(str(send.pk)) == 3
    assert len(smtp.messages) == 3
    polled = web.get(reverse("marketing:campaign_sending", args=[campaign.pk, send.pk.hex]), HTTP_HX_REQUEST="true")
    assert polled["HX-Redirect"] == campaign.get_absolute_url()
    assert "已发送 3 封邮件；未授权 0 位；发送失败 0 位。" in web.get(campaign.get_absolute_url()).content.decode()
    assert sends.start(campaign, mary).total == 0  # nothing pending: a new send sends nobody again


def test_an_interrupted_send_is_failed_with_what_it_sent_and_the_next_press_sends_the_rest_once(smtp, mary):  # noqa: F811
    campaign = _audience(mary, 4)
    contacts = list(campaign.contacts.order_by("id"))
    gone = subprocess.Popen(["true"])
    gone.wait()
    send = CampaignSend.objects.create(campaign=campaign, user=mary, total=4, status="running",
                                       host=socket.gethostname(), pid=gone.pid, heartbeat_at=timezone.now())
    # What the killed worker left: one mailed, one handed to the server when it died, two still pending.
    contacts[0].status, contacts[0].contacted_at = ContactStatus.SENT, timezone.now()
    contacts[0].save()
    contacts[1].status = ContactStatus.SENDING
    contacts[1].save()
    assert sends.recover_interrupted() == [send.pk.hex]
    send.refresh_from_db()
    assert (send.status, send.sent, send.failed) == ("failed", 1, 1)
    assert "发送被中断" in sends.outcome(send) and "已发送 1 封邮件" in sends.outcome(send)
    contacts[1].refresh_from_db()
    assert contacts[1].status == ContactStatus.FAILED  # it may have gone: never tried twice

    _web(mary).post(reverse("marketing:campaign_send", args=[campaign.pk]))
    assert sorted(m["to"][0] for m in smtp.messages) == [contacts[2].customer.email, contacts[3].customer.email]
    assert CampaignSend.objects.filter(status="done").get().sent == 2


def test_a_send_checks_the_senders_rights_again_when_the_worker_runs(smtp, mary, settings):  # noqa: F811
    settings.KEHU_CAMPAIGN_BACKGROUND = True
    campaign = _audience(mary, 1)
    _web(mary).post(reverse("marketing:campaign_send", args=[campaign.pk]))
    mary.is_active = False
    mary.save()
    assert sends.run(str(CampaignSend.objects.get().pk)) is None
    assert CampaignSend.objects.get().error == "账号已停用，不能发送。" and smtp.messages == []
    assert campaign.contacts.get().status == ContactStatus.PENDING
