"""Campaign e-mails are sent by `kehu worker` on the production path: a live `kehu serve --no-worker`, a worker beside
it, a real SMTP server. The worker is killed midway: the next worker marks the send failed with what it sent, and the
next press sends to the rest — nobody gets the mail twice."""

import asyncio
import json
import time
from collections import Counter

from aiosmtpd.controller import Controller

from .harness import ADMIN_PASSWORD, LiveServer, Worker, free_port, log_in

N = 30
SHOP = f"""
import datetime
from kehu.accounts.models import User
from kehu.customers.models import Customer
from kehu.engagement.models import Consent
from kehu.marketing import campaigns
from kehu.marketing.models import Campaign, TargetList
from kehu.segments.models import CustomerSegment
admin = User.objects.get(username="admin")
for i in range({N}):
    c = Customer.objects.create(code=f"EM-{{i:02d}}", name=f"邮件客户{{i}}", email=f"c{{i}}@example.com")
    CustomerSegment.objects.create(customer=c, changed_on=datetime.date.today(), rfm_class="重要价值客户")
    Consent.objects.create(customer=c, channel="email", granted=True)
tl = TargetList.objects.create(name="重要价值邮件", segment_column="rfm_class", segment_class="重要价值客户",
                               channel="email", created_by=admin)
campaign = Campaign.objects.create(name="会员日", target_list=tl, channel="email", message="{{姓名}}您好",
                                   created_by=admin)
campaigns.prepare(campaign, admin)
print(campaign.pk)
"""
STATE = ("import json; from kehu.marketing.models import CampaignContact, CampaignSend; "
         "print(json.dumps({'contacts': dict((c.customer.email, c.status) for c in "
         "CampaignContact.objects.select_related('customer')), "
         "'sends': list(CampaignSend.objects.order_by('created_at').values_list('status', 'sent', 'failed'))}))")


class SlowInbox:
    """An SMTP server that takes a moment per message, so a send is still under way when its worker is killed."""

    def __init__(self):
        self.to: list[str] = []

    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(0.15)
        self.to.extend(envelope.rcpt_tos)
        return "250 OK"


def _state(store) -> dict:
    return json.loads(store.shell(STATE).strip().splitlines()[-1])


def _wait(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_a_send_whose_worker_was_killed_is_failed_with_what_it_sent_and_the_next_press_sends_the_rest(
        ready_store):
    inbox, port = SlowInbox(), free_port()
    smtp = Controller(inbox, hostname="127.0.0.1", port=port)
    smtp.start()
    ready_store.env.update({"KEHU_SMTP_HOST": "127.0.0.1", "KEHU_SMTP_PORT": str(port)})
    campaign = int(ready_store.shell(SHOP).strip().splitlines()[-1])
    server = LiveServer(ready_store).start()
    worker = Worker(ready_store).start()
    try:
        web = log_in(server.url, "admin", ADMIN_PASSWORD)
        page = f"/marketing/campaigns/{campaign}/"
        pressed = web.post(f"{page}send/", allow_redirects=False)
        assert pressed.status_code == 302  # the page returns at once
        _wait(lambda: len(inbox.to) >= 5, 30, "the worker sent nothing")
        again = web.post(f"{page}send/")
        assert "这个活动的邮件正在后台发送" in again.text or len(inbox.to) == N
        worker.stop(kill=True)
        assert len(inbox.to) < N, "the send ended before its worker was killed: slow the inbox down"

        worker = Worker(ready_store).start()  # finds the send of the dead worker at start
        state = _state(ready_store)
        sent_before = sum(s == "sent" for s in state["contacts"].values())
        assert state["sends"] == [["failed", sent_before, N - sent_before - list(state["contacts"].values())
                                   .count("pending")]]
        assert "发送被中断" in web.get(page).text

        web.post(f"{page}send/")
        _wait(lambda: _state(ready_store)["sends"][-1][0] == "done", 30, "the second send did not end")
        state = _state(ready_store)
        received = Counter(inbox.to)
        assert max(received.values()) == 1  # nobody twice
        statuses = Counter(state["contacts"].values())
        assert statuses["pending"] == 0 and statuses["failed"] <= 1  # at most the one whose mail was leaving
        assert {e for e, s in state["contacts"].items() if s == "sent"} <= set(received)
        assert len(received) >= N - statuses["failed"]
        assert "已发送" in web.get(page).text
    finally:
        worker.stop()
        server.stop()
        smtp.stop()
