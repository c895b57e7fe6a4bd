"""Exports (customers, the customer list as shown, orders, the report, target lists): small ones are written in the
request, big ones by the background worker.

Each kind of export is a `Kind` in KINDS (marketing registers its target lists): how many rows the query gives, its
file name, and a writer from the query parameters and the user — the same writer for both paths, so a big export
holds what a small one would (contact fields masked as the user sees them). Above KEHU_EXPORT_BACKGROUND_ROWS rows
`respond` queues an ExportJob instead and the page polls its status. `kehu worker` runs it as the person who asked:
it loads that user again, so rights taken away meanwhile (deactivated, a role that no longer sees contact details,
a target list no longer theirs) hold; it writes the rows done into the job, and the file into
KEHU_HOME/exports/<job>/ (folder 0700, file 0600), encrypted with a key derived from the data key (lib.crypto). Only
the requester may download it, once: the file is deleted after the download, and swept after KEEP_FOR if nobody
fetched it. A job whose worker died (killed, a restart) is marked failed by `recover_interrupted` and its partial
file deleted. With ``KEHU_EXPORT_BACKGROUND = False`` (tests on an in-memory database) the job runs in the request.
"""

from __future__ import annotations

import io
import logging
import os
import shutil
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import FileResponse, HttpResponseRedirect, QueryDict, StreamingHttpResponse
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.http import content_disposition_header
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kehu.accounts import audit
from kehu.customers.columns import parse_columns
from kehu.customers.filters import CustomerFilter
from kehu.customers.models import Customer
from kehu.lib import crypto, tasks
from kehu.lib.jobs import claim
from kehu.lib.officecrypto import encrypt_xlsx
from kehu.lib.processes import claimant_gone

from . import exporters
from .models import ExportJob

log = logging.getLogger(__name__)
KEEP_FOR = timedelta(hours=24)  # a written export nobody downloaded is deleted after this
PROGRESS_EVERY = 0.5  # seconds between two progress writes of a running job
PURPOSE = b"export"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONTENT_TYPES = {"csv": "text/csv; charset=utf-8", "xlsx": XLSX}
INTERRUPTED = gettext_noop("导出被中断（后台进程已停止），请重新导出")
SEGMENT_FIELDS = ("rfm_class", "rf_segment", "abc_class", "lifecycle", "value_tier", "frequency_tier")


@dataclass(frozen=True)
class Kind:
    query: Callable[[QueryDict, object], Any]  # what to export for (params, user), built once: a search is audited
    count: Callable[[Any, object], int]  # rows the export of that query will write, for (query, user)
    title: Callable[[Any, QueryDict], str]  # the file's name before the date, for (query, params)
    write: Callable[[Any, QueryDict, object, str, IO[bytes]], int]  # (query, params, user, fmt, target) → rows


KINDS: dict[str, Kind] = {}


def register(key: str, kind: Kind) -> None:
    KINDS[key] = kind


def as_text(target: IO[bytes], write: Callable[[IO[str]], int]) -> int:
    """Run a CSV writer on a binary file: UTF-8 with a BOM, so Excel shows Chinese right."""
    text = io.TextIOWrapper(target, encoding="utf-8-sig", newline="")
    try:
        return write(text)
    finally:
        text.flush()
        text.detach()


# ── the exports of this app ────────────────────────────────────────────────────────────────────

def filtered_customers(params: QueryDict, user) -> QuerySet:
    """The customer list's rows for the same query parameters; `segment=重要价值客户` narrows to one class."""
    qs = CustomerFilter.from_params(params).apply(Customer.objects.visible_to(user), user)
    if segment := params.get("segment", "").strip()[:20]:
        condition = Q()
        for name in SEGMENT_FIELDS:
            condition |= Q(**{f"segment__{name}": segment})
        qs = qs.filter(condition)
    return qs


def _orders(customers: QuerySet, user) -> QuerySet:
    return exporters.visible_orders(user).filter(customer__in=customers)


def _write_customers(qs: QuerySet, params: QueryDict, user, fmt: str, target: IO[bytes]) -> int:
    if "cols" in params:  # the list as shown: its chosen columns, in its sort
        keys, sort = parse_columns(params), CustomerFilter.from_params(params).sort
        if fmt == "csv":
            return as_text(target, lambda f: exporters.export_customer_list_csv(qs, user, keys, sort, f))
        return exporters.export_customer_list_xlsx(qs, user, keys, sort, target)
    if fmt == "csv":
        return as_text(target, lambda f: exporters.export_customers_csv(qs, user, f))
    return exporters.export_customers_xlsx(qs, user, target)


def _write_orders(orders: QuerySet, params: QueryDict, user, fmt: str, target: IO[bytes]) -> int:
    if fmt == "csv":
        return as_text(target, lambda f: exporters.export_orders_csv(orders, f))
    return exporters.export_orders_xlsx(orders, target)


def _write_report(customers: QuerySet, params: QueryDict, user, fmt: str, target: IO[bytes]) -> int:
    counts = exporters.export_report_xlsx(customers, _orders(customers, user), user, target)
    return counts["customers"] + counts["orders"]


def _count(qs: QuerySet, user) -> int:
    return qs.count()


register("customers", Kind(query=filtered_customers, count=_count, write=_write_customers,
                           title=lambda qs, params: "客户列表" if "cols" in params else "客户"))
register("orders", Kind(query=lambda params, user: _orders(filtered_customers(params, user), user), count=_count,
                        title=lambda orders, params: "消费记录", write=_write_orders))
register("report", Kind(query=filtered_customers, title=lambda qs, params: "客户报表", write=_write_report,
                        count=lambda customers, user: customers.count() + _orders(customers, user).count()))


# ── writing, now or in the background ────────────────────────────────────────────────────────────

def write(key: str, query, fmt: str, params: QueryDict, user, target: IO[bytes], password: str = "") -> int:
    """Write the export of `query` into `target`; an xlsx with a password is locked (the same bytes, wrapped)."""
    kind = KINDS[key]
    if not password or fmt != "xlsx":
        return kind.write(query, params, user, fmt, target)
    with tempfile.TemporaryFile() as plain:
        rows = kind.write(query, params, user, fmt, plain)
        plain.seek(0)
        target.write(encrypt_xlsx(plain.read(), password))
    return rows


def file_name(key: str, query, fmt: str, params: QueryDict) -> str:
    return f"{KINDS[key].title(query, params)}-{timezone.localdate():%Y%m%d}.{fmt}"


def _download(fileobj, name: str, fmt: str, streaming: bool = False):
    response = (StreamingHttpResponse if streaming else FileResponse)(fileobj, content_type=CONTENT_TYPES[fmt])
    response["Content-Disposition"] = content_disposition_header(as_attachment=True, filename=name)
    return response


def spool():
    """A temporary file a response streams and then closes (FileResponse closes it)."""
    return tempfile.TemporaryFile()


def respond(key: str, fmt: str, params: QueryDict, user, password: str = "", total: int | None = None):
    """The export as a download now when it is small; else queued, and a redirect to its status page. `total`: the
    rows, when the caller counted them already."""
    kind = KINDS[key]
    query = kind.query(params, user)
    total = kind.count(query, user) if total is None else total
    name = file_name(key, query, fmt, params)
    if total > settings.KEHU_EXPORT_BACKGROUND_ROWS:
        job = start(key, fmt, params, user, name, total, password)
        return HttpResponseRedirect(reverse("exchange:export_job", args=[job.pk.hex]))
    tmp = spool()
    write(key, query, fmt, params, user, tmp, password)
    tmp.seek(0)
    return _download(tmp, name, fmt)


def start(key: str, fmt: str, params: QueryDict, user, name: str, total: int, password: str = "") -> ExportJob:
    """Queue the export for the worker; the job to poll."""
    from .tasks import run_export

    job = ExportJob.objects.create(user=user, kind=key, fmt=fmt, params=params.urlencode(), file_name=name[:255],
                                   language=translation.get_language() or settings.LANGUAGE_CODE,
                                   password=password, total=total)
    tasks.enqueue(run_export, str(job.pk), background=getattr(settings, "KEHU_EXPORT_BACKGROUND", True))
    return job


def export_root() -> Path:
    return Path(settings.KEHU_HOME) / "exports"


def _folder(job: ExportJob) -> Path:
    root = export_root()
    folder = root / job.pk.hex
    for each in (root, folder):
        each.mkdir(mode=0o700, parents=True, exist_ok=True)
        each.chmod(0o700)
    return folder


def _discard(job_id: uuid.UUID) -> None:
    shutil.rmtree(export_root() / job_id.hex, ignore_errors=True)


def run(job_id: str) -> int | None:
    """Write a queued export (the task's body) as the user who asked for it; the rows written, or None."""
    if not claim(ExportJob, job_id):
        return None
    job = ExportJob.objects.select_related("user").get(pk=job_id)
    password = job.password
    ExportJob.objects.filter(pk=job.pk).update(password="")  # kept no longer than needed
    done, last = 0, time.monotonic()

    def bump(n: int) -> None:
        nonlocal done, last
        done += n
        if time.monotonic() - last >= PROGRESS_EVERY:
            last = time.monotonic()
            ExportJob.objects.filter(pk=job.pk).update(done=done, heartbeat_at=timezone.now())

    folder = _folder(job)
    plain, sealed = folder / "plain", folder / "sealed"
    try:
        with translation.override(job.language):
            if not job.user.is_active:
                raise PermissionDenied(_("账号已停用，不能导出。"))
            params = QueryDict(job.params)
            with audit.through("web"):  # a contact search in the query is audited again, as the worker's
                query = KINDS[job.kind].query(params, job.user)
            fd = os.open(plain, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "wb") as target, exporters.reporting(bump):
                rows = write(job.kind, query, job.fmt, params, job.user, target, password)
        crypto.seal_file(plain, sealed, PURPOSE)
        plain.unlink()
    except Exception as exc:
        if not isinstance(exc, PermissionDenied):
            log.exception("export %s (%s) failed", job.pk, job.file_name)
        _discard(job.pk)
        error = str(exc) if isinstance(exc, PermissionDenied) else _("导出失败：%(error)s") % {"error": exc}
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.FAILED, error=error,
                                                   finished_at=timezone.now())
        return None
    ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.DONE, done=rows, path=str(sealed),
                                               finished_at=timezone.now())
    return rows


def recover_interrupted() -> list[str]:
    """Exports whose worker died midway: marked failed, their partial file deleted. Returns their ids."""
    recovered = []
    for job in ExportJob.objects.filter(status=ExportJob.Status.RUNNING):
        if not claimant_gone(job.host, job.pid, job.heartbeat_at or job.created_at, ExportJob.STALE_AFTER):
            continue
        if ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.RUNNING, pid=job.pid).update(
                status=ExportJob.Status.FAILED, error=INTERRUPTED, finished_at=timezone.now()):
            log.warning("export %s (%s) was interrupted", job.pk, job.file_name)
            _discard(job.pk)
            tasks.fail_running([str(job.pk)], INTERRUPTED)
            recovered.append(job.pk.hex)
    return recovered


def sweep(max_age: timedelta = KEEP_FOR) -> list[str]:
    """Delete the written exports nobody downloaded within `max_age`, and folders no job owns; the jobs expired."""
    cutoff = timezone.now() - max_age
    expired = []
    for job in ExportJob.objects.filter(status=ExportJob.Status.DONE, finished_at__lt=cutoff):
        if ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.DONE).update(
                status=ExportJob.Status.EXPIRED, path=""):
            _discard(job.pk)
            expired.append(job.pk.hex)
    root = export_root()
    if root.is_dir():
        kept = {job.hex for job in ExportJob.objects.filter(
            status__in=[ExportJob.Status.QUEUED, ExportJob.Status.RUNNING, ExportJob.Status.DONE])
            .values_list("pk", flat=True)}
        for folder in root.iterdir():
            if folder.name not in kept and folder.stat().st_mtime < cutoff.timestamp():
                shutil.rmtree(folder, ignore_errors=True)
    return expired


def discard_all() -> int:
    """Delete every written export not yet downloaded (a person was erased: any of them may mention them)."""
    jobs = list(ExportJob.objects.filter(status=ExportJob.Status.DONE))
    for job in jobs:
        ExportJob.objects.filter(pk=job.pk).update(status=ExportJob.Status.EXPIRED, path="")
        _discard(job.pk)
    return len(jobs)


def find(job_id: str, user) -> ExportJob | None:
    """The job, or None when it is unknown or someone else's (an admin's too: an export is its requester's)."""
    try:
        key = uuid.UUID(job_id)
    except ValueError:
        return None
    return ExportJob.objects.filter(pk=key, user=user).first()


def download(job: ExportJob):
    """The written file as a streamed download; deleted once it was sent whole. None if it is gone."""
    if job.status != ExportJob.Status.DONE or not Path(job.path).is_file():
        return None

    def chunks() -> Iterator[bytes]:
        yield from crypto.open_sealed(job.path, PURPOSE)
        if ExportJob.objects.filter(pk=job.pk, status=ExportJob.Status.DONE).update(
                status=ExportJob.Status.DOWNLOADED, path=""):
            _discard(job.pk)

    return _download(chunks(), job.file_name, job.fmt, streaming=True)
