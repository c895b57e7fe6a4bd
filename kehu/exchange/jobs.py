"""Imports started from the web run in a background thread; the page polls their progress.

kehu serves with one process (waitress, several threads), so progress lives in this process's memory.
With ``KEHU_IMPORT_BACKGROUND = False`` (tests on an in-memory database) the import runs in the request.
"""

import logging
import threading
import uuid

from django.conf import settings
from django.db import close_old_connections, connections

from kehu.accounts import audit

from . import uploads
from .importer import import_file

log = logging.getLogger(__name__)
_JOBS: dict[str, dict] = {}
_LOCK = threading.Lock()


def start_import(path: str, name: str, sheets, user, on_duplicate: str, on_conflict: str = "error") -> str:
    """Start importing; returns the job id to poll with `job_status`."""
    job = uuid.uuid4().hex
    total = sum(max((s.total_rows or 0) - s.header_row, 0) for s in sheets if s.kind)
    with _LOCK:
        _JOBS[job] = {"done": 0, "total": total, "batch": None, "error": "", "user": user.pk}

    def bump(n: int) -> None:
        with _LOCK:
            _JOBS[job]["done"] += n

    def run() -> None:
        try:
            result = import_file(path, user=user, on_duplicate=on_duplicate, name=name, sheets=sheets,
                                 stored_file=path, progress=bump, on_conflict=on_conflict)
            with _LOCK:
                _JOBS[job]["batch"] = result.batch.pk
        except Exception as exc:
            log.exception("import of %s failed", name)
            with _LOCK:
                _JOBS[job]["error"] = f"导入失败：{exc}"
        finally:
            uploads.discard(path)  # committed or failed, the uploaded file is no longer needed

    if getattr(settings, "KEHU_IMPORT_BACKGROUND", True):
        def in_thread() -> None:
            close_old_connections()
            try:
                with audit.through("web"):
                    run()
            finally:
                connections.close_all()

        threading.Thread(target=in_thread, name=f"import-{job[:8]}", daemon=True).start()
    else:
        run()
    return job


def job_status(job: str, user) -> dict | None:
    """A copy of the job's state, or None when it is unknown or someone else's."""
    with _LOCK:
        state = _JOBS.get(job)
        if state is None or state["user"] != user.pk:
            return None
        state = dict(state)
    state["percent"] = min(100, round(100 * state["done"] / state["total"])) if state["total"] else 0
    return state
