"""One whole-store job at a time, across processes and servers: a lease row in the database.

A run takes the :class:`~kehu.segments.models.RunLease` row of its job by a compare-and-set UPDATE (the
owner it saw → itself) in a transaction of its own, renews it at every stage and gives it back at the
end; no transaction stays open for the run. Another run that finds the lease held waits up to `wait`
seconds, then raises :class:`JobRunning`, which says in Chinese and English who runs it. A lease
whose holder crashed is free once it expires (``LEASE``), or at once when the holder was a process
of this host that no longer exists.
"""

from __future__ import annotations

import datetime
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from django.utils import timezone
from django.utils.translation import gettext as _

from kehu.lib.processes import process_exists

from .models import RunLease

LEASE = datetime.timedelta(minutes=10)  # renewed at every stage; a stage of a 1,000,000-customer run takes < 1 min
POLL_SECONDS = 0.5
HOST = socket.gethostname()[:255]
_held = threading.local()


class JobRunning(Exception):
    """Another process holds the lease of this job."""

    def __init__(self, holder: RunLease | None):
        self.holder = holder
        super().__init__(self.bilingual())

    def _facts(self) -> dict:
        holder = self.holder
        started = timezone.localtime(holder.started_at).strftime("%Y-%m-%d %H:%M:%S") \
            if holder and holder.started_at else "?"
        return {"pid": holder.pid if holder else "?", "host": holder.host if holder else "?", "started": started}

    def message(self) -> str:
        """In the active language (web pages)."""
        return _("另一次客户分层正在运行（%(host)s 上的进程 %(pid)s，开始于 %(started)s），请等它结束后再试。") \
            % self._facts()

    def bilingual(self) -> str:
        """Chinese, then English (the command line)."""
        facts = self._facts()
        return ("另一次客户分层正在运行（{host} 上的进程 {pid}，开始于 {started}），请等它结束后再试，"
                "或用 --wait 秒数 等它结束。 Another classification is running (process {pid} on {host}, started "
                "{started}); try again when it has finished, or wait for it with --wait SECONDS.").format(**facts)


@dataclass
class Lease:
    name: str
    owner: str

    def renew(self) -> None:
        """Push the expiry on; JobRunning if the lease ran out and another run took it meanwhile."""
        if not RunLease.objects.filter(name=self.name, owner=self.owner).update(expires_at=timezone.now() + LEASE):
            raise JobRunning(RunLease.objects.filter(name=self.name).first())


def _alive(holder: RunLease) -> bool:
    """Whether the holder may still be running: its lease has not run out and, on this host, its process exists."""
    if not holder.owner or holder.expires_at is None or holder.expires_at <= timezone.now():
        return False
    return holder.host != HOST or not holder.pid or process_exists(holder.pid)


def holder(name: str) -> RunLease | None:
    """Who holds the lease of job `name` now, or None when it is free."""
    seen = RunLease.objects.filter(name=name).first()
    return seen if seen is not None and _alive(seen) else None


def _take(name: str, owner: str) -> RunLease | None:
    """Take the lease if nobody holds it; None when taken, else the holder.

    The holder is read first (a read never waits for a writer), and only a free lease is written to.
    """
    seen = RunLease.objects.filter(name=name).first()
    if seen is None:
        seen, _created = RunLease.objects.get_or_create(name=name)
    if _alive(seen):
        return seen
    now = timezone.now()
    taken = RunLease.objects.filter(name=name, owner=seen.owner).update(
        owner=owner, host=HOST, pid=os.getpid(), started_at=now, expires_at=now + LEASE)
    return None if taken else (RunLease.objects.filter(name=name).first() or seen)


@contextmanager
def hold(name: str, wait: float = 0) -> Iterator[Lease]:
    """Hold the lease of job `name` for the block, waiting up to `wait` seconds for another run to end.

    Re-entrant within a thread: a nested hold of the same job is the outer one.
    """
    mine = getattr(_held, "leases", None)
    if mine is None:
        mine = _held.leases = {}
    if name in mine:
        yield mine[name]
        return
    lease = Lease(name, f"{HOST}:{os.getpid()}:{uuid.uuid4().hex[:12]}")
    deadline = time.monotonic() + max(wait, 0)
    while (holder := _take(name, lease.owner)) is not None:
        if time.monotonic() >= deadline:
            raise JobRunning(holder)
        time.sleep(min(POLL_SECONDS, max(deadline - time.monotonic(), 0.01)))
    mine[name] = lease
    try:
        yield lease
    finally:
        del mine[name]
        RunLease.objects.filter(name=name, owner=lease.owner).update(owner="", expires_at=None)
