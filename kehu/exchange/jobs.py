"""Imports started from the web run as background tasks (django-tasks, its database backend); the page polls them.

The wizard stores the upload under KEHU_HOME (uploads.py) and queues a task naming an ImportJob row: the file, the
mapping, who imports. `kehu worker` (started by `kehu serve` unless --no-worker) runs it and writes the rows done
into the job in the import's own transactions, so the progress any server process shows is what is committed.

A job never stays half-written: one that fails is marked failed and its batch reverted; one whose worker died
(killed, a restart) is found by `recover_interrupted` — run by every worker at start and every few seconds — and
handled the same way. With ``KEHU_IMPORT_BACKGROUND = False`` (tests on an in-memory database) the task runs in the
request, through django-tasks' immediate backend.
"""

import logging
import time
import uuid

from django.conf import settings
from django.utils import timezone

from kehu.accounts import audit
from kehu.lib import tasks
from kehu.lib.jobs import claim
from kehu.lib.processes import claimant_gone

from . import uploads
from .importer import import_file, revert_batch
from .models import ImportBatch, ImportJob
from .readers import Sheet, read_workbook

log = logging.getLogger(__name__)
PROGRESS_EVERY = 0.3  # seconds between two progress writes of a running job
INTERRUPTED = "导入被中断（后台进程已停止），已写入的部分已撤销，请重新导入"


def sheet_overrides(sheets: list[Sheet]) -> dict:
    """The kind and column mapping chosen for each sheet, as JSON."""
    return {s.name: {"kind": s.kind or "", "mapping": {str(i): f for i, f in s.mapping.items()}} for s in sheets}


def load_sheets(path: str, name: str, overrides: dict) -> list[Sheet]:
    """The workbook read again with the kinds and mappings chosen in the wizard."""
    sheets = read_workbook(path, name)
    for s in sheets:
        o = overrides.get(s.name)
        if o is not None:
            s.remap(o["kind"] or None, {int(i): f for i, f in o["mapping"].items()})
    return sheets


def start_import(path: str, name: str, sheets, user, on_duplicate: str, on_conflict: str = "error") -> str:
    """Queue the import; returns the job id to poll with `job_status`."""
    from .tasks import run_import

    total = sum(max((s.total_rows or 0) - s.header_row, 0) for s in sheets if s.kind)
    job = ImportJob.objects.create(user=user, file_name=name[:255], path=str(path), sheets=sheet_overrides(sheets),
                                   on_duplicate=on_duplicate, on_conflict=on_conflict, total=total)
    tasks.enqueue(run_import, str(job.pk), background=getattr(settings, "KEHU_IMPORT_BACKGROUND", True))
    return job.pk.hex


def run(job_id: str) -> int | None:
    """Run a queued job (the task's body): the batch id, or None when it failed or was not queued."""
    if not claim(ImportJob, job_id):
        return None
    job = ImportJob.objects.select_related("user").get(pk=job_id)
    done, last = 0, time.monotonic()

    def bump(n: int) -> None:  # inside the import's transaction: visible when the rows are committed
        nonlocal done, last
        done += n
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            ImportJob.objects.filter(pk=job.pk).update(done=done, heartbeat_at=timezone.now())

    try:
        with audit.through("web"):
            sheets = load_sheets(job.path, job.file_name, job.sheets)
            result = import_file(job.path, user=job.user, on_duplicate=job.on_duplicate, name=job.file_name,
                                 sheets=sheets, stored_file=job.path, progress=bump, on_conflict=job.on_conflict)
        ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.DONE, done=max(done, job.total),
                                                   batch=result.batch, finished_at=timezone.now())
        return result.batch.pk
    except Exception as exc:
        log.exception("import of %s failed", job.file_name)
        _fail(job, f"导入失败：{exc}")
        return None
    finally:
        uploads.discard(job.path)  # committed or failed, the uploaded file is no longer needed


def _fail(job: ImportJob, error: str) -> None:
    """Mark the job failed and revert whatever its batch committed: an import is all or nothing."""
    batch = job.batch or ImportBatch.objects.filter(stored_file=job.path).order_by("-id").first()
    if batch is not None:
        if batch.status == ImportBatch.Status.RUNNING:
            ImportBatch.objects.filter(pk=batch.pk).update(status=ImportBatch.Status.INCOMPLETE,
                                                           finished_at=timezone.now())
            batch.refresh_from_db()
        if batch.can_revert:
            try:
                revert_batch(batch, user=job.user)
            except Exception:
                log.exception("could not revert import #%s of failed job %s", batch.pk, job.pk)
                error += f"；撤销导入 #{batch.pk} 未完成，请在导入记录中再次撤销"
    ImportJob.objects.filter(pk=job.pk).update(status=ImportJob.Status.FAILED, error=error, batch=batch,
                                               finished_at=timezone.now())


def recover_interrupted() -> list[str]:
    """Jobs whose worker died midway (killed, a restart): marked failed, their batch reverted. Returns their ids."""
    recovered = []
    for job in ImportJob.objects.filter(status=ImportJob.Status.RUNNING).select_related("user", "batch"):
        if not claimant_gone(job.host, job.pid, job.heartbeat_at or job.created_at, ImportJob.STALE_AFTER):
            continue
        # Claimed by one recoverer only: the first to move it from running.
        if not ImportJob.objects.filter(pk=job.pk, status=ImportJob.Status.RUNNING, pid=job.pid).update(
                status=ImportJob.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()):
            continue
        log.warning("import job %s (%s) was interrupted: reverting what it wrote", job.pk, job.file_name)
        with audit.through("web"):  # the revert of a web import
            _fail(job, INTERRUPTED)
        tasks.fail_running([str(job.pk)], INTERRUPTED)
        uploads.discard(job.path)
        recovered.append(job.pk.hex)
    return recovered


def job_status(job: str, user) -> dict | None:
    """The job's state, or None when it is unknown or someone else's."""
    try:
        key = uuid.UUID(job)
    except ValueError:
        return None
    found = ImportJob.objects.filter(pk=key, user=user).first()
    if found is None:
        return None
    state = {"done": found.done, "total": found.total, "error": found.error, "status": found.status,
             "batch": found.batch_id if found.status == ImportJob.Status.DONE else None}
    state["percent"] = min(100, round(100 * state["done"] / state["total"])) if state["total"] else 0
    return state
