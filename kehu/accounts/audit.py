"""The audit log (审计日志): who saw, changed, merged, deleted, imported, exported or restored what, and when.

Views and commands call `record(user, action, target, details)`; creating, changing and deleting a
customer are recorded by model signals, whoever does it. The user behind a change made during a
request comes from `AuditMiddleware` (a context variable, so threads of other requests never mix).

Contact fields are never stored in plaintext: a change to a mobile is recorded as 138****5678 → 139****0000.
"""

import atexit
import contextlib
import datetime
import getpass
import logging
import queue
import threading
import time
from contextvars import ContextVar

from django.conf import settings
from django.db import OperationalError, connection, connections
from django.utils import timezone

from kehu.lib.db import waiting_at_most
from kehu.lib.masking import mask_email, mask_mobile, mask_text

from .models import AuditAction, AuditEntry

__all__ = ["AuditAction", "AuditEntry", "record", "suppressed"]

log = logging.getLogger(__name__)
_request: ContextVar = ContextVar("kehu_audit_request", default=None)
_suppressed: ContextVar = ContextVar("kehu_audit_suppressed", default=False)
_through: ContextVar = ContextVar("kehu_audit_channel", default="")

# Customer fields never worth an entry of their own (derived or bookkeeping).
SKIPPED_FIELDS = {"id", "version", "created_at", "updated_at", "mobile_hash", "email_hash", "wechat_hash",
                  "mobile_last4_hash", "updated_by"}


class AuditMiddleware:
    """Remembers the current request so signal handlers know who made a change."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def current_user():
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


def _channel() -> str:
    request = _request.get()
    if request is None:
        return _through.get() or "cli"
    return "api" if request.path.startswith("/api/") else "web"


@contextlib.contextmanager
def through(channel: str):
    """Work done outside a request on someone's behalf (a web import's background thread) is recorded as
    coming through `channel`, not the console."""
    token = _through.set(channel)
    try:
        yield
    finally:
        _through.reset(token)


@contextlib.contextmanager
def suppressed():
    """Signals record nothing inside (an erase must not write the erased name into the log)."""
    token = _suppressed.set(True)
    try:
        yield
    finally:
        _suppressed.reset(token)


def _target(target) -> tuple[str, str, str]:
    """(type, customer code, label) for a customer, another model object, a string or None."""
    if target is None:
        return "", "", ""
    if isinstance(target, str):
        return "", "", target[:200]
    meta = getattr(target, "_meta", None)
    kind = meta.model_name if meta else type(target).__name__.lower()
    code = getattr(target, "code", "") or ""
    if not code and hasattr(target, "customer_id"):
        customer = getattr(target, "customer", None)
        code = getattr(customer, "code", "") or ""
    return kind, code[:32], str(target)[:200]


def record(user, action: str, target=None, details: dict | None = None, *, codes: list[str] | None = None,
           channel: str = "", code: str = "") -> AuditEntry:
    """Write one entry. `user` None means the current request's user, else the operator at the console."""
    user = user if user is not None else current_user()
    kind, target_code, label = _target(target)
    code = code or target_code
    username = user.username if user is not None else f"{_os_user()}（命令行）"
    entry = AuditEntry(
        user=user, username=username, channel=channel or _channel(), action=action,
        target_type=kind, target_code=code, target_label=label,
        codes=" ".join(codes or []), details=_jsonable(details or {}),
    )
    if action in READ_ACTIONS and not connection.in_atomic_block:
        _save_soon(entry)
    else:
        entry.save()
    return entry


# What someone saw is written as a side effect of a read. A store too busy to take it within a moment (a long
# import or revert on SQLite) gets it a little later from a writer thread, with its original time: the read is
# delayed at most READ_WAIT_SECONDS and never fails for the log's sake.
READ_ACTIONS = {AuditAction.VIEW, AuditAction.VIEW_LIST}
READ_WAIT_SECONDS = 0.5
BACKLOG_ATTEMPTS = 60


def _save_soon(entry: AuditEntry) -> None:
    try:
        with waiting_at_most(READ_WAIT_SECONDS):
            entry.save()
    except OperationalError as exc:
        log.warning("audit entry deferred, the store is busy: %s", exc)
        _backlog.put(entry)


class _Backlog:
    """Entries a busy store could not take at once, written in order by one thread as soon as it can."""

    def __init__(self):
        self.entries: queue.SimpleQueue = queue.SimpleQueue()
        self.lock = threading.Lock()
        self.thread: threading.Thread | None = None
        self.exit_hook = False

    def put(self, entry: AuditEntry) -> None:
        with self.lock:
            self.entries.put(entry)
            if self.thread is None:
                self.thread = threading.Thread(target=self._drain, name="audit-backlog", daemon=True)
                self.thread.start()
            if not self.exit_hook:
                atexit.register(self.write_remaining)
                self.exit_hook = True

    def write_remaining(self) -> None:
        """At exit (Ctrl-C on `kehu serve`): what the thread has not written yet is written now."""
        while True:
            try:
                entry = self.entries.get_nowait()
            except queue.Empty:
                return
            try:
                entry.save()
            except OperationalError:
                log.error("audit entry lost at exit, the store stayed busy: %s %s", entry.username, entry.action)

    def _drain(self) -> None:
        try:
            while True:
                try:
                    entry = self.entries.get(timeout=1)
                except queue.Empty:
                    with self.lock:
                        if self.entries.empty():
                            self.thread = None
                            return
                    continue
                self._write(entry)
        finally:
            connections.close_all()  # this thread's connections

    @staticmethod
    def _write(entry: AuditEntry) -> None:
        for _ in range(BACKLOG_ATTEMPTS):
            try:
                entry.save()
                return
            except OperationalError:
                time.sleep(1)  # each attempt already waited busy_timeout
        log.error("audit entry lost, the store stayed busy: %s %s %s", entry.username, entry.action, entry.codes)


_backlog = _Backlog()


def settle_deferred(timeout: float = 5) -> None:
    """Wait (at most `timeout` seconds) for the writer thread of deferred entries to finish its work."""
    thread = _backlog.thread
    if thread is not None:
        thread.join(timeout=timeout)


def discard_deferred() -> None:
    """Forget entries still waiting to be written (a test's database is going away with them)."""
    while True:
        try:
            _backlog.entries.get_nowait()
        except queue.Empty:
            return


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in some containers
        return "system"


def _jsonable(value):
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).isoformat() if timezone.is_aware(value) else value.isoformat()
    if isinstance(value, datetime.date):
        return value.isoformat()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


# ── customers: masked snapshots and their differences ──────────────────────────────────────

def masked_value(name: str, value):
    """A field value as the log keeps it: contact fields masked, the rest as they are."""
    if value in (None, ""):
        return ""
    if name == "mobile":
        return mask_mobile(value)
    if name == "email":
        return mask_email(value)
    if name == "wechat":
        return mask_text(value)
    if name == "address":
        return mask_text(value, keep=0)
    if name == "birthday":
        text = value.isoformat() if hasattr(value, "isoformat") else str(value)
        return f"****-{text[5:]}"
    return _jsonable(value)


def customer_state(customer) -> dict:
    """Raw field values to compare (plaintext, in memory only), keyed by field name."""
    state = {}
    for f in customer._meta.concrete_fields:
        if f.name in SKIPPED_FIELDS:
            continue
        state[f.name] = getattr(customer, f.attname)
    return state


def changes(old: dict, new: dict) -> dict:
    """{field: [old, new]} for the fields that differ, both sides masked where they are contact fields."""
    out = {}
    for name, value in new.items():
        before = old.get(name)
        if (before or "") != (value or ""):
            out[name] = [masked_value(name, before), masked_value(name, value)]
    return out


def _on_customer_pre_save(sender, instance, raw=False, **kwargs):
    if raw or _suppressed.get() or not instance.pk:
        return
    old = sender.objects.filter(pk=instance.pk).first()
    instance._audit_before = customer_state(old) if old is not None else None


def _on_customer_post_save(sender, instance, created, raw=False, **kwargs):
    if raw or _suppressed.get():
        return
    new = customer_state(instance)
    if created or getattr(instance, "_audit_before", None) is None:
        details = {"changes": changes({}, new)}
        record(None, AuditAction.CREATE, instance, details)
        return
    diff = changes(instance._audit_before, new)
    instance._audit_before = None
    if diff:
        record(None, AuditAction.UPDATE, instance, {"changes": diff})


def _on_customer_post_delete(sender, instance, **kwargs):
    if _suppressed.get():
        return
    record(None, AuditAction.DELETE, instance, {"name": instance.name})


def _on_import_batch_saved(sender, instance, created, raw=False, **kwargs):
    """An import is recorded once, when it finishes (whether in a request, a thread or a command)."""
    if raw or _suppressed.get() or instance.status != "done" or getattr(instance, "_audit_recorded", False):
        return
    if AuditEntry.objects.filter(action=AuditAction.IMPORT, target_type="importbatch",
                                 details__batch=instance.pk).exists():
        return
    instance._audit_recorded = True
    totals = {key: instance.total(key) for key in ("new", "updated", "rejected")}
    record(instance.user, AuditAction.IMPORT, instance,
           {"batch": instance.pk, "file": instance.file_name, **totals},
           channel="cli" if instance.user is None else "")


def connect() -> None:
    from django.db.models.signals import post_delete, post_save, pre_save

    pre_save.connect(_on_customer_pre_save, sender="customers.Customer", dispatch_uid="audit-customer-pre")
    post_save.connect(_on_customer_post_save, sender="customers.Customer", dispatch_uid="audit-customer-post")
    post_delete.connect(_on_customer_post_delete, sender="customers.Customer", dispatch_uid="audit-customer-del")
    post_save.connect(_on_import_batch_saved, sender="exchange.ImportBatch", dispatch_uid="audit-import")


# ── reading and pruning ─────────────────────────────────────────────────────────────────────

def retention_days() -> int:
    return int(getattr(settings, "KEHU_AUDIT_RETENTION_DAYS", 730))


def prune(days: int | None = None, now: datetime.datetime | None = None) -> int:
    """Delete entries older than the retention time; returns how many went."""
    cutoff = (now or timezone.now()) - datetime.timedelta(days=days if days is not None else retention_days())
    deleted, _ = AuditEntry.objects.filter(at__lt=cutoff).delete()  # a QuerySet delete: the model's delete() refuses
    return deleted


def redact_contact_values(hashes: list[str], plaintexts: list[str]) -> int:
    """PIPL erase: entries about searches for the person's mobile, e-mail or WeChat ID (their keyed hash in
    `value_hash` or `search_hash`), and older entries whose filter string held one of them in plaintext,
    keep that the search happened, not what was searched for."""
    from django.db.models import Q

    hashes = [h for h in hashes if h]
    condition = Q(details__value_hash__in=hashes) | Q(details__search_hash__in=hashes) if hashes else Q(pk__in=[])
    for text in filter(None, plaintexts):
        condition |= Q(details__filter__icontains=text)
    return AuditEntry.objects.filter(condition).update(details={"redacted": True})


def redact_customer(code: str, label: str) -> int:
    """PIPL erase: the log keeps that something happened to `code`, but no longer what the person was called."""
    return AuditEntry.objects.filter(target_code=code).update(target_label=label, details={"redacted": True})
