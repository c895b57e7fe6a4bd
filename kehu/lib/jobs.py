"""What every job run by `kehu worker` keeps of itself, and how a worker takes one.

A job row (an import, an export, a classification, a campaign send) is queued by a page, claimed by exactly one
worker — the conditional UPDATE of :func:`claim` lets one of several workers win —, beats while it runs, and ends
done or failed; a job whose claimant died is failed by the next worker (``lib.processes.claimant_gone``).
"""

import os
import socket
import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class BackgroundJob(models.Model):
    """The fields every job shares: its id, why it failed, the process that runs it and its beat. A job model adds
    its ``status`` (with at least ``queued`` and ``running``), what it works on and its progress."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    error = models.TextField(_("错误"), blank=True, default="")
    host = models.CharField(_("运行主机"), max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(_("运行进程号"), null=True, blank=True)
    created_at = models.DateTimeField(_("提交时间"), default=timezone.now)
    heartbeat_at = models.DateTimeField(_("最近进度时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        abstract = True


def claim(model: type[models.Model], pk, **also) -> bool:
    """Take the queued job `pk` for this process (running, this host and pid, a first beat, and `also`); False when
    it is not queued (another worker took it first, or it ended)."""
    return bool(model.objects.filter(pk=pk, status="queued").update(
        status="running", host=socket.gethostname()[:255], pid=os.getpid(), heartbeat_at=timezone.now(), **also))
