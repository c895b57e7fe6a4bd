"""The nightly jobs, scheduled inside kehu: at KEHU_NIGHTLY (local time, default 02:15) a `kehu worker` queues them.

One switch: ``KEHU_NIGHTLY=HH:MM`` or ``off``. Every worker looks every few seconds whether today's jobs are due (the
time has passed and the day has no :class:`NightlyRun` row yet); the first to create the day's row — unique by day, in
the transaction that queues the task — has them run, so two workers on two hosts run them once. A worker started
after the time on a day without a run (a laptop off at night) runs them at once — except on the day the store was made
after that time (a first `make demo` in the afternoon): its first night is the next. The jobs, in order, each recorded
with its outcome whatever the others did:

1. the classification (``kehu segment``), with the metrics rebuilt from all orders once a week
   (``kehu segment --full``, see ``segments.runs.full_due``), shown on the segment pages as any run started there;
2. the follow-up rules (``kehu followups``);
3. a backup, keeping the latest 14 (``kehu backup --keep 14``);
4. the data-quality check and today's score (``kehu health``).

A run whose worker died is marked failed by the next worker (``recover_interrupted``) and not run again that day; the
next night runs everything again. The last run and its outcome show on 系统设置 → 备份.
"""

from __future__ import annotations

import datetime
import io
import logging
import time
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import gettext_noop

from kehu.lib import tasks
from kehu.lib.jobs import claim
from kehu.lib.processes import claimant_gone

from .models import NightlyRun

log = logging.getLogger(__name__)
INTERRUPTED = gettext_noop("每晚自动任务被中断（后台进程已停止），明晚会再次运行")
OFF = ("", "off", "0", "no", "false")


def scheduled_time() -> datetime.time | None:
    """KEHU_NIGHTLY as a time of day, or None when the nightly jobs are off."""
    value = str(getattr(settings, "KEHU_NIGHTLY", "")).strip().lower()
    if value in OFF:
        return None
    try:
        return datetime.time.fromisoformat(value)
    except ValueError as exc:
        raise ImproperlyConfigured(f"KEHU_NIGHTLY 应为 HH:MM 或 off：{value!r} "
                                   f"(KEHU_NIGHTLY must be HH:MM or off)") from exc


def due(now: datetime.datetime | None = None) -> datetime.date | None:
    """The local day whose nightly jobs are due at `now` (the time has passed), or None."""
    at = scheduled_time()
    local = timezone.localtime(now)
    if at is None or local.time() < at:
        return None
    return local.date()


def schedule(now: datetime.datetime | None = None) -> NightlyRun | None:
    """Queue today's nightly jobs if they are due and no worker has yet; the day's run, or None."""
    from .tasks import run_nightly

    day = due(now)
    if day is None or NightlyRun.objects.filter(day=day).exists() or _made_after_the_time(day):
        return None
    try:
        with transaction.atomic():  # the row and its task together: a worker killed in between leaves neither
            run = NightlyRun.objects.create(day=day)
            run_nightly.enqueue(str(run.pk))
    except IntegrityError:  # another worker created the day's row first
        return None
    log.info("nightly jobs of %s queued", day)
    return run


def _made_after_the_time(day: datetime.date) -> bool:
    """Whether the store was made on `day` after its nightly time (its first migration applied then)."""
    made = MigrationRecorder(connection).migration_qs.order_by("applied").values_list("applied", flat=True).first()
    if made is None:
        return False
    made = timezone.localtime(made)
    return made.date() == day and made.time() >= scheduled_time()


def _segment() -> str:
    from kehu.segments import runs
    from kehu.segments.models import SegmentJob

    job = runs.run_now(SegmentJob.Reason.NIGHTLY, full=runs.full_due())  # waits for a run started from a page
    if job.status != SegmentJob.Status.DONE:
        raise RuntimeError(runs.outcome(job))
    return str(runs.outcome(job))


def _command(name: str, marker: str, **options) -> Callable[[], str]:
    """Run `kehu <name>`; its output line containing `marker` says what it did."""
    def step() -> str:
        out = io.StringIO()
        call_command(name, stdout=out, **options)
        lines = [line.strip() for line in out.getvalue().splitlines() if line.strip()]
        return next((line for line in lines if marker in line), lines[-1] if lines else "")
    return step


STEPS: list[tuple[str, object, Callable[[], str]]] = [
    ("segment", _("客户分层（每周从全部订单重新计算一次指标）"), _segment),
    ("followups", _("自动跟进"), _command("followups", "共生成")),
    ("backup", _("备份（保留最近 14 份）"), _command("backup", "→", keep=14)),
    ("health", _("数据质量检查"), _command("health", "数据质量分")),
]
STEP_LABELS = {key: label for key, label, _step in STEPS}


def run(run_id: str) -> str | None:
    """Run a queued day's jobs (the task's body): its final status, or None when it was not queued."""
    if not claim(NightlyRun, run_id, started_at=timezone.now()):
        return None
    done = []
    for key, _label, step in STEPS:
        started = time.perf_counter()
        try:
            summary, ok = step(), True
        except Exception as exc:  # one job failing never keeps the others (the backup above all) from running
            log.exception("nightly job %s failed", key)
            summary, ok = str(exc) or type(exc).__name__, False
        done.append({"step": key, "ok": ok, "summary": summary[:500],
                     "seconds": round(time.perf_counter() - started, 1)})
        NightlyRun.objects.filter(pk=run_id).update(steps=done, heartbeat_at=timezone.now())
    status = NightlyRun.Status.DONE if all(s["ok"] for s in done) else NightlyRun.Status.FAILED
    NightlyRun.objects.filter(pk=run_id).update(status=status, finished_at=timezone.now())
    return status


def recover_interrupted() -> list[datetime.date]:
    """Days whose nightly run lost its worker midway: marked failed (each job is whole or not done)."""
    recovered = []
    for night in NightlyRun.objects.filter(status=NightlyRun.Status.RUNNING):
        if claimant_gone(night.host, night.pid, night.heartbeat_at or night.created_at, NightlyRun.STALE_AFTER) \
                and NightlyRun.objects.filter(pk=night.pk, status=NightlyRun.Status.RUNNING, pid=night.pid).update(
                    status=NightlyRun.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()):
            tasks.fail_running([str(night.pk)], INTERRUPTED)
            recovered.append(night.day)
    return recovered


def last() -> NightlyRun | None:
    return NightlyRun.objects.order_by("-day").first()
