"""Whether a process of this host still exists (a lease holder, a server, a backup's temp folder), and whether the
process that claimed a background job is gone."""

import datetime
import os
import socket

from django.utils import timezone


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


def claimant_gone(host: str, pid: int | None, last_beat: datetime.datetime, stale_after: datetime.timedelta) -> bool:
    """Whether the process that claimed a job (`host`, `pid`, last heard of at `last_beat`) is gone: at once when it
    ran on this host and no longer exists, else once it has been silent for `stale_after`."""
    if host == socket.gethostname() and pid and not process_exists(pid):
        return True
    return timezone.now() - last_beat > stale_after
