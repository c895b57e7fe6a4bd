"""Personal API tokens: issue one (shown once), and find the user behind a presented token."""

import contextlib
import datetime
import hashlib
import secrets

from django.db import OperationalError
from django.utils import timezone

from kehu.lib.db import waiting_at_most

from .models import ApiToken, User

TOKEN_PREFIX = "kehu_"
PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
# last_used_at is written at most this often, so reads do not turn into a write each time.
TOUCH_INTERVAL = datetime.timedelta(minutes=1)
TOUCH_WAIT_SECONDS = 0.25


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user: User, name: str = "") -> tuple[ApiToken, str]:
    """A new token for `user`: the stored row and the plain token, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:PREFIX_LENGTH], key_hash=hash_token(raw))
    return token, raw


def user_for_token(raw: str) -> User | None:
    """The active user a token belongs to, or None for an unknown token or an inactive user."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.select_related("user").filter(key_hash=hash_token(raw.strip())).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        # A refresh the store is too busy for (a long import) is skipped: the next call a minute on makes it.
        with contextlib.suppress(OperationalError), waiting_at_most(TOUCH_WAIT_SECONDS):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user
