"""Which servers and workers of this store are running, kept in the database so every host and process sees them.

`kehu serve` and `kehu worker` register themselves (`serving`; a worker's address is "kehu worker"), refresh a
heartbeat every HEARTBEAT_SECONDS from a thread, and remove their row when they stop; one killed outright goes stale
after STALE_AFTER (at once when it ran on this host, whose process table tells). `kehu restore` refuses while any of
them is alive (`running`).
"""

import contextlib
import logging
import os
import socket
import threading

from django.db import OperationalError, connection
from django.utils import timezone

from kehu.lib.db import waiting_at_most

from .models import ServerPresence

log = logging.getLogger(__name__)


def running() -> list[ServerPresence]:
    return ServerPresence.objects.alive()


@contextlib.contextmanager
def serving(address: str):
    """Registered as a running server of this store for the duration."""
    ServerPresence.objects.filter(host=socket.gethostname(), pid=os.getpid()).delete()
    me = ServerPresence.objects.create(host=socket.gethostname(), pid=os.getpid(), address=address)
    stop = threading.Event()
    beat = threading.Thread(target=_heartbeat, args=(me.pk, stop), name="kehu-presence", daemon=True)
    beat.start()
    try:
        yield me
    finally:
        stop.set()
        beat.join(timeout=5)
        with contextlib.suppress(OperationalError):
            ServerPresence.objects.filter(pk=me.pk).delete()


def _heartbeat(pk: int, stop: threading.Event) -> None:
    try:
        while not stop.wait(ServerPresence.HEARTBEAT_SECONDS):
            try:
                with waiting_at_most(1.0):  # a busy store (an import on SQLite) delays a beat, never the server
                    ServerPresence.objects.filter(pk=pk).update(heartbeat_at=timezone.now())
            except OperationalError as exc:
                log.warning("server heartbeat skipped, the store is busy: %s", exc)
    finally:
        connection.close()


def describe(servers: list[ServerPresence]) -> str:
    return "、".join(str(s) for s in servers)
