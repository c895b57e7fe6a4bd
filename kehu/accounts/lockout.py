"""Login lock-out that cannot be turned against a colleague (django-axes, with kehu's rules).

- A user name is locked per address: KEHU_LOGIN_FAILURE_LIMIT failures for one user name from one address
  lock that name from that address only, so a colleague guessing from their own desk cannot lock the
  admin out of theirs.
- Attempts during a lock-out are not recorded, so they do not extend it: it ends KEHU_LOGIN_COOLOFF_MINUTES
  after the failure that caused it.
- One address is throttled across user names: KEHU_ADDRESS_FAILURE_LIMIT failures (logins and API tokens
  together) within the cool-off time stop every login and token from that address until it has passed.
- An admin lifts either lock from the users page (settings) or with `kehu unlock NAME` / `--address`.
"""

from axes.handlers.database import AxesDatabaseHandler
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from axes.utils import reset
from django.conf import settings
from django.contrib.auth.signals import user_login_failed
from django.db.models import Sum
from django.http import HttpRequest
from django.utils import timezone

# The user name failed API tokens are recorded under: no real user can have it (see credentials.py).
TOKEN_FAILURE_NAME = "(api token)"


class LockoutHandler(AxesDatabaseHandler):
    """Axes' database handler plus the per-address throttle across user names."""

    def is_locked(self, request, credentials: dict | None = None) -> bool:
        return super().is_locked(request, credentials) or address_is_throttled(request)


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


def recent_failures(**filters) -> int:
    """Failures within the cool-off time matching `filters` (ip_address=…, username=…)."""
    return recent_attempts().filter(**filters).aggregate(n=Sum("failures_since_start"))["n"] or 0


def address_is_throttled(request: HttpRequest) -> bool:
    AxesProxyHandler.update_request(request)
    failures = recent_failures(ip_address=request.axes_ip_address)
    return failures >= settings.KEHU_ADDRESS_FAILURE_LIMIT


def user_is_locked(request: HttpRequest, username: str) -> bool:
    """Whether `username` may not sign in from this request's address right now (either lock)."""
    return AxesProxyHandler.is_locked(request, {"username": username})


def record_token_failure(request: HttpRequest) -> None:
    """Count a presented token that matched nothing against its address, as a failed login would be."""
    user_login_failed.send(sender=__name__, credentials={"username": TOKEN_FAILURE_NAME}, request=request)
    request.axes_locked_out = False  # the API answers in JSON itself; no lock-out page


def unlock(username: str | None = None, address: str | None = None) -> int:
    """Lift the lock-outs of a user name (from every address) or of an address; the attempts removed."""
    return reset(username=username, ip=address)
