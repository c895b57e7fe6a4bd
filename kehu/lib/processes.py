"""Whether a process of this host still exists (a lease holder, a server, a backup's temp folder)."""

import os


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True
