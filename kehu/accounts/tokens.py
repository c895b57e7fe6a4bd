"""Personal API tokens: issue one (shown once), and find the user behind a presented token."""

import contextlib
import datetime
import hashlib
import secrets

from django.db import OperationalError
from django.utils import timezone

from kehu.lib.db import waiting_at_most

from .models import TOKEN_DAYS, ApiToken, User

TOKEN_PREFIX = "kehu_"
PREFIX_LENGTH = len(TOKEN_PREFIX) + 6
# last_used_at is written at most this often, so reads do not turn into a write each time.
TOUCH_INTERVAL = datetime.timedelta(minutes=1)
TOUCH_WAIT_SECONDS = 0.25


def hash_token(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def issue_token(user: User, name: str = "", days: int = TOKEN_DAYS) -> tuple[ApiToken, str]:
    """A new token for `user`, valid `days` days: the stored row and the plain token, which is never stored."""
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken.objects.create(user=user, name=name, prefix=raw[:PREFIX_LENGTH], key_hash=hash_token(raw),
                                    expires_at=timezone.now() + datetime.timedelta(days=days))
    return token, raw


def user_for_token(raw: str) -> User | None:
    """The active user a live token belongs to; None for an unknown, revoked or expired token or an inactive user."""
    if not raw or not raw.startswith(TOKEN_PREFIX):
        return None
    token = ApiToken.objects.live().select_related("user").filter(key_hash=hash_token(raw.strip())).first()
    if token is None or not token.user.is_active:
        return None
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > TOUCH_INTERVAL:
        # A refresh the store is too busy for (a long import) is skipped: the next call a minute on makes it.
        with contextlib.suppress(OperationalError), waiting_at_most(TOUCH_WAIT_SECONDS):
            ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token.user


# -- Revocation: by hand, and whenever the person behind the tokens changes password or leaves -----------

REVOKED_BY_HAND = "手动撤销"
REVOKED_PASSWORD = "密码已更改"
REVOKED_INACTIVE = "账号已停用"


def revoke_user_tokens(sender, instance: User, created: bool, **kwargs) -> None:
    """post_save of a user: a new password (set_password, not a hash upgrade) or deactivation revokes every token."""
    if created:
        return
    if not instance.is_active:
        instance.api_tokens.revoke(REVOKED_INACTIVE)
    elif getattr(instance, "_password", None) is not None:
        instance.api_tokens.revoke(REVOKED_PASSWORD)


def connect() -> None:
    from django.db.models.signals import post_save

    post_save.connect(revoke_user_tokens, sender=User, dispatch_uid="kehu-revoke-user-tokens")
