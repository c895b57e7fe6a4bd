"""Classifications started from a page (重新计算分层, 保存并重新计算) and by the nightly jobs run in the background.

The page queues a django-tasks task naming a :class:`SegmentJob` row and returns at once to a status page that polls
the row: `kehu worker` runs `pipeline.refresh` and writes each stage into the row, so every server process of the
store shows the same progress. One run at a time across processes and hosts (the run lease, ``lease.py``): a second
start while one is queued or running is refused with a message that says so; a queued run that finds `kehu segment`
started meanwhile on the command line waits for it (LEASE_WAIT).

A run never leaves half-written classes: the pipeline writes every class row and the run's SegmentRun in one
transaction (with --full the metrics are rewritten before, in a transaction of their own, with the values the order
signals keep anyway). A run whose worker died (killed, a restart) is found by `recover_interrupted` — run by every
worker at start and every few seconds — and marked failed; the classes stay those of the last finished run. It is
not run again by itself (a run that killed its worker, out of memory, would do so again): the next button press or
the next nightly run classifies everyone. With ``KEHU_SEGMENT_BACKGROUND = False`` (tests on an in-memory database)
the run happens in the request.
"""

from __future__ import annotations

import datetime
import logging
import uuid

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kehu.customers.models import refresh_age_bands
from kehu.lib import tasks
from kehu.lib.jobs import claim
from kehu.lib.processes import claimant_gone

from . import lease, pipeline, reports
from .models import SegmentJob

log = logging.getLogger(__name__)
STALE_AFTER = lease.LEASE  # a run on another host renews its lease (and beats here) at every stage
QUEUED_FOR_AT_MOST = datetime.timedelta(minutes=10)  # a queued run no worker took by then blocks nobody
INTERRUPTED = gettext_noop("分层计算被中断（后台进程已停止），客户分层仍是上次计算的结果，请重新计算")
WAITING = gettext_noop("等待另一次分层结束")
LEASE_WAIT = 600.0  # seconds a queued run waits for one started meanwhile on the command line (≤ 5 min at 1M)
ACTIVE = (SegmentJob.Status.QUEUED, SegmentJob.Status.RUNNING)


class AlreadyRunning(Exception):
    """A classification started earlier is queued or running."""

    def __init__(self, job: SegmentJob):
        self.job = job
        super().__init__(str(job))

    def message(self) -> str:
        started = timezone.localtime(self.job.created_at).strftime("%Y-%m-%d %H:%M:%S")
        return _("另一次客户分层正在后台运行（开始于 %(started)s），请等它结束后再试。") % {"started": started}


def active() -> SegmentJob | None:
    """The classification queued or running now, if any."""
    for job in SegmentJob.objects.filter(status__in=ACTIVE).order_by("created_at"):
        if job.status == SegmentJob.Status.QUEUED:
            if timezone.now() - job.created_at <= QUEUED_FOR_AT_MOST:
                return job
        elif not claimant_gone(job.host, job.pid, job.heartbeat_at or job.created_at, STALE_AFTER):
            return job
    return None


def start(user, reason: str) -> SegmentJob:
    """Queue a classification of everyone for `kehu worker`; AlreadyRunning or lease.JobRunning when one runs."""
    from .tasks import run_segments

    if (running := active()) is not None:
        raise AlreadyRunning(running)
    if (holder := lease.holder(pipeline.JOB)) is not None:  # `kehu segment` on the command line
        raise lease.JobRunning(holder)
    job = SegmentJob.objects.create(user=user, reason=reason)
    tasks.enqueue(run_segments, str(job.pk), background=getattr(settings, "KEHU_SEGMENT_BACKGROUND", True))
    job.refresh_from_db()
    return job


FULL_EVERY_DAYS = 7   # the nightly classification rebuilds the metrics from all orders once in this many days


def full_due() -> bool:
    """Whether the nightly classification should rebuild the metrics from all orders: no job did in the last
    FULL_EVERY_DAYS days (half a day of slack, as nights start at slightly different times). The signals keep the
    metrics current with every order; the rebuild is the check that nothing drifted (a write that went around them),
    and it reads every order, which at a million customers costs far more than the classification itself."""
    since = timezone.now() - datetime.timedelta(days=FULL_EVERY_DAYS) + datetime.timedelta(hours=12)
    return not SegmentJob.objects.filter(full=True, status=SegmentJob.Status.DONE, finished_at__gte=since).exists()


def run_now(reason: str, full: bool) -> SegmentJob:
    """Classify everyone in this process (the nightly jobs), recorded as a SegmentJob the pages show."""
    job = SegmentJob.objects.create(reason=reason, full=full)
    run(str(job.pk))
    job.refresh_from_db()
    return job


def run(job_id: str, wait: float = LEASE_WAIT) -> int | None:
    """Run a queued job (the task's body): the SegmentRun id, or None when it failed or was not queued."""
    if not claim(SegmentJob, job_id):
        return None
    job = SegmentJob.objects.get(pk=job_id)
    if lease.holder(pipeline.JOB) is not None:  # `kehu segment` started after the button was pressed
        SegmentJob.objects.filter(pk=job.pk).update(stage=WAITING)
    started = 0

    def progress(stage: str) -> None:  # called as each stage begins, outside the pipeline's transactions
        nonlocal started
        started += 1
        SegmentJob.objects.filter(pk=job.pk).update(stage=stage[:50], steps_done=started - 1,
                                                     heartbeat_at=timezone.now())

    try:
        result = pipeline.refresh(full=job.full, progress=progress, wait=wait)
    except lease.JobRunning as exc:
        _finish(job, SegmentJob.Status.FAILED, error=exc.message())
        return None
    except Exception as exc:
        log.exception("classification %s failed", job.pk)
        _finish(job, SegmentJob.Status.FAILED, error=_("分层计算失败：%(error)s") % {"error": exc})
        return None
    refresh_age_bands()  # as `kehu segment` does: the stored age bands follow the birthdays passed
    reports.warm(result.run)
    _finish(job, SegmentJob.Status.DONE, run=result.run, customers=result.run.customers,
            steps_done=job.steps_total, stage="", unchanged=result.unchanged)
    return result.run.pk


def _finish(job: SegmentJob, status: str, **fields) -> None:
    SegmentJob.objects.filter(pk=job.pk).update(status=status, finished_at=timezone.now(), **fields)


def recover_interrupted() -> list[str]:
    """Runs whose worker died midway: marked failed (their classes were never committed). Returns their ids."""
    recovered = []
    for job in SegmentJob.objects.filter(status=SegmentJob.Status.RUNNING):
        if not claimant_gone(job.host, job.pid, job.heartbeat_at or job.created_at, STALE_AFTER):
            continue
        # Claimed by one recoverer only: the first to move it from running.
        if SegmentJob.objects.filter(pk=job.pk, status=SegmentJob.Status.RUNNING, pid=job.pid).update(
                status=SegmentJob.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()):
            log.warning("classification %s was interrupted: the classes of the last run stay", job.pk)
            tasks.fail_running([str(job.pk)], INTERRUPTED)
            recovered.append(job.pk.hex)
    return recovered


def find(job_id: str) -> SegmentJob | None:
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return SegmentJob.objects.select_related("run").filter(pk=key).first()


def outcome(job: SegmentJob) -> str:
    """What a finished job did, in the words the page shows."""
    if job.status == SegmentJob.Status.FAILED:
        return _(job.error)  # the interruption's words are translated; other errors stay as the worker wrote them
    if job.reason == SegmentJob.Reason.THRESHOLDS:
        return _("设置已保存，分层已按新阈值重新计算（%(n)s 位客户）。") % {"n": job.customers}
    run = job.run
    if job.unchanged and run is not None:
        return _("自 %(time)s 的分层以来客户、订单和阈值都没有变化，沿用该次结果：%(n)s 位客户，"
                 "分析日期 %(date)s。") % {
            "time": timezone.localtime(run.finished_at).strftime("%H:%M"), "n": job.customers, "date": run.as_of}
    return _("分层已重新计算：%(n)s 位客户，分析日期 %(date)s，用时 %(s)s 秒。") % {
        "n": job.customers, "date": run.as_of if run else "", "s": run.seconds if run else ""}
