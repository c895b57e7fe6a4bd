"""Campaign e-mails are sent by the background worker (django-tasks); the campaign page polls the send.

Pressing 发送邮件 queues a task naming a :class:`CampaignSend` row and the page returns at once: `kehu worker` runs
`campaigns.send_email` as the person who pressed (loaded again: rights taken away meanwhile hold) and writes the
counts into the row, so every server process shows the same progress. One send at a time per campaign (a unique
constraint on the queued or running send): a second press while one is under way says so.

Each contact's state is kept as it goes (发送中 before its mail leaves, 已发送 after), so a send whose worker died
(killed, a restart) is found by `recover_interrupted` — run by every worker at start and every few seconds — and
marked failed with what it sent; the contact whose mail was leaving is marked failed (it may have gone: it is not
tried twice), and the others stay pending: the next press sends to them only. With
``KEHU_CAMPAIGN_BACKGROUND = False`` (tests on an in-memory database) the send runs in the request.
"""

from __future__ import annotations

import logging
import time
import uuid

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kehu.lib import tasks
from kehu.lib.jobs import claim
from kehu.lib.processes import claimant_gone

from . import campaigns
from .models import Campaign, CampaignContact, CampaignSend, ContactStatus

log = logging.getLogger(__name__)
PROGRESS_EVERY = 0.5  # seconds between two progress writes of a running send
INTERRUPTED = gettext_noop(
    "发送被中断（后台进程已停止）。其余待发送的客户未收到邮件，可再次点击发送继续（已发送的不会重复发送）。")
ACTIVE = (CampaignSend.Status.QUEUED, CampaignSend.Status.RUNNING)


class AlreadySending(Exception):
    """A send of this campaign is queued or running."""

    def __init__(self, send: CampaignSend):
        self.send = send
        super().__init__(str(send))

    def message(self) -> str:
        started = timezone.localtime(self.send.created_at).strftime("%H:%M:%S")
        return _("这个活动的邮件正在后台发送（开始于 %(started)s），请等它结束。") % {"started": started}


def active(campaign: Campaign) -> CampaignSend | None:
    return campaign.sends.filter(status__in=ACTIVE).first()


def latest(campaign: Campaign) -> CampaignSend | None:
    return campaign.sends.first()


def start(campaign: Campaign, user) -> CampaignSend:
    """Queue a send of the campaign's pending contacts; AlreadySending if one is under way."""
    from .tasks import send_campaign

    total = campaign.contacts.filter(status=ContactStatus.PENDING).count()
    try:
        with transaction.atomic():
            send = CampaignSend.objects.create(campaign=campaign, user=user, total=total)
    except IntegrityError:  # the unique constraint: one queued or running send per campaign
        under_way = active(campaign)
        if under_way is None:  # it ended meanwhile
            raise
        raise AlreadySending(under_way) from None
    tasks.enqueue(send_campaign, str(send.pk), background=getattr(settings, "KEHU_CAMPAIGN_BACKGROUND", True))
    send.refresh_from_db()
    return send


def run(send_id: str) -> int | None:
    """Send a queued campaign (the task's body): the e-mails sent, or None when it failed or was not queued."""
    if not claim(CampaignSend, send_id):
        return None
    send = CampaignSend.objects.select_related("campaign", "user").get(pk=send_id)
    last = time.monotonic()

    def progress(counts: dict[str, int]) -> None:
        nonlocal last
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            CampaignSend.objects.filter(pk=send.pk).update(heartbeat_at=timezone.now(), **counts)

    try:
        if send.user is None or not send.user.is_active:
            raise PermissionDenied(_("账号已停用，不能发送。"))
        campaigns.require_run(send.user, send.campaign)
        counts = campaigns.send_email(send.campaign, send.user, progress)
    except (PermissionDenied, campaigns.MailServerUnavailable) as exc:
        _finish(send, CampaignSend.Status.FAILED, error=str(exc))
        return None
    except Exception as exc:
        log.exception("sending campaign %s failed", send.campaign_id)
        _finish(send, CampaignSend.Status.FAILED, error=_("发送失败：%(error)s") % {"error": exc})
        return None
    _finish(send, CampaignSend.Status.DONE, **counts)
    return counts["sent"]


def _finish(send: CampaignSend, status: str, **fields) -> None:
    CampaignSend.objects.filter(pk=send.pk).update(status=status, finished_at=timezone.now(), **fields)


def recover_interrupted() -> list[str]:
    """Sends whose worker died midway: marked failed with what they sent; the contact whose mail was leaving is
    marked failed, not tried again. Returns their ids."""
    recovered = []
    for send in CampaignSend.objects.filter(status=CampaignSend.Status.RUNNING):
        if not claimant_gone(send.host, send.pid, send.heartbeat_at or send.created_at, CampaignSend.STALE_AFTER):
            continue
        with transaction.atomic():
            if not CampaignSend.objects.filter(pk=send.pk, status=CampaignSend.Status.RUNNING, pid=send.pid).update(
                    status=CampaignSend.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()):
                continue
            contacts = CampaignContact.objects.filter(campaign_id=send.campaign_id)
            unsure = contacts.filter(status=ContactStatus.SENDING).update(status=ContactStatus.FAILED)
            sent = contacts.filter(status=ContactStatus.SENT, contacted_at__gte=send.created_at).count()
            CampaignSend.objects.filter(pk=send.pk).update(sent=sent, failed=send.failed + unsure)
        log.warning("sending campaign %s was interrupted after %s e-mails", send.campaign_id, sent)
        tasks.fail_running([str(send.pk)], INTERRUPTED)
        recovered.append(send.pk.hex)
    return recovered


def find(campaign: Campaign, send_id: str) -> CampaignSend | None:
    try:
        key = uuid.UUID(send_id)
    except ValueError:
        return None
    return campaign.sends.filter(pk=key).first()


def outcome(send: CampaignSend) -> str:
    """What a finished send did, in the words the page shows."""
    counts = _("已发送 %(sent)s 封邮件；未授权 %(no_consent)s 位；发送失败 %(failed)s 位。") % {
        "sent": send.sent, "no_consent": send.no_consent, "failed": send.failed}
    if send.status == CampaignSend.Status.FAILED:
        return f"{_(send.error)} {counts}" if send.error == INTERRUPTED else _(send.error)
    return counts
