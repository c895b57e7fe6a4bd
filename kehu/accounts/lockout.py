"""Login lock-out that cannot be turned against a colleague (django-axes, with kehu's rules).

- A user name is locked per address: KEHU_LOGIN_FAILURE_LIMIT (5) failures for one user name from one
  address lock that name from that address only, so a colleague guessing from their own desk cannot lock
  the admin out of theirs.
- Attempts during a lock-out are not recorded, so they do not extend it: it ends KEHU_LOGIN_COOLOFF_MINUTES
  after the failure that caused it. One address can therefore add at most 5 failures to a user name per
  cool-off time.
- A user name is locked everywhere only after KEHU_USER_FAILURE_LIMIT (25) failures from several addresses
  together: a guesser who rotates addresses gets no more tries, a colleague at one desk cannot reach it.
- One address is throttled across user names: KEHU_ADDRESS_FAILURE_LIMIT (20) failures (logins and API
  tokens together) within the cool-off time stop every login and token from that address until it passes.
- An admin lifts any of them from the users page (settings) or with `kehu unlock NAME` / `--address IP`.
"""

from dataclasses import dataclass

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Q, Sum
from django.http import HttpRequest
from django.utils import timezone

# The user name failed API tokens are recorded under: no real user can have it (see credentials.py).
TOKEN_FAILURE_NAME = "(api token)"


@dataclass(frozen=True)
class Locks:
    """Which locks hold for one address and (optionally) one user name right now."""

    address: bool
    user: bool  # the user name from this address, or from everywhere


def locks(request: HttpRequest, username: str | None = None) -> Locks:
    """The locks on this request's address and on `username`, in one query."""
    AxesProxyHandler.update_request(request)
    address, n = request.axes_ip_address, "failures_since_start"
    everywhere = Q(username=username) if username is not None else Q(pk__in=[])
    here = Q(ip_address=address) & everywhere
    found = recent_attempts().filter(Q(ip_address=address) | everywhere).aggregate(
        address=Sum(n, filter=Q(ip_address=address)), here=Sum(n, filter=here), everywhere=Sum(n, filter=everywhere))
    user_locked = username is not None and (
        (found["here"] or 0) >= settings.AXES_FAILURE_LIMIT
        or (found["everywhere"] or 0) >= settings.KEHU_USER_FAILURE_LIMIT)
    return Locks(address=(found["address"] or 0) >= settings.KEHU_ADDRESS_FAILURE_LIMIT, user=user_locked)


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler with kehu's three locks (see the module's description)."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        held = locks(request, get_client_username(request, credentials))
        return held.address or held.user


def client_address(request: HttpRequest) -> str:
    """The caller's address. Behind a reverse proxy (KEHU_BEHIND_PROXY=1) that is the last X-Forwarded-For
    entry, the one the proxy itself appended; entries before it come from the client and can be forged."""
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if settings.KEHU_BEHIND_PROXY and forwarded:
        return forwarded.rsplit(",", 1)[-1].strip()
    return request.META.get("REMOTE_ADDR", "")


def recent_attempts():
    """Failed attempts still within the cool-off time (the ones that can lock anything)."""
    return AccessAttempt.objects.filter(attempt_time__gte=timezone.now() - settings.AXES_COOLOFF_TIME)


def record_token_failure(request: HttpRequest) -> None:
    """Count a presented token that matched nothing against its address, as a failed login would be."""
    user_login_failed.send(sender=__name__, credentials={"username": TOKEN_FAILURE_NAME}, request=request)
    request.axes_locked_out = False  # the API answers in JSON itself; no lock-out page


def unlock(username: str | None = None, address: str | None = None) -> int:
    """Lift the lock-outs of a user name (from every address) or of an address; the attempts removed."""
    return reset(username=username, ip=address)
