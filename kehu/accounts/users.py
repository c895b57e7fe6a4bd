"""Managing the people who work in kehu (系统设置 → 用户与角色): create, change, deactivate, reset a password,
lift a login lock-out, revoke an API token. Each change is written to the audit log, with who did it.

An admin cannot lock themselves out: they may not deactivate themselves, and the last active admin keeps
the admin role.
"""

from django.core.exceptions import ValidationError
from django.db.models import IntegerField, OuterRef, QuerySet, Subquery, Sum
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from . import audit
from .lockout import recent_attempts, unlock
from .models import ApiToken, Role, User
from .tokens import REVOKED_BY_HAND


def with_recent_failures(qs: QuerySet) -> QuerySet:
    """Users annotated with `recent_failures`: failed logins still within the cool-off time (what can lock)."""
    failures = (recent_attempts().filter(username=OuterRef("username")).values("username")
                .annotate(n=Sum("failures_since_start")).values("n"))
    return qs.annotate(recent_failures=Coalesce(Subquery(failures, output_field=IntegerField()), 0))


def _other_active_admins(user: User) -> bool:
    return User.objects.filter(role=Role.ADMIN, is_active=True).exclude(pk=user.pk).exists()


def check_role_change(user: User, old_role: str, new_role: str) -> None:
    """Refuse taking the admin role from the last active admin."""
    if old_role == Role.ADMIN and new_role != Role.ADMIN and user.is_active and not _other_active_admins(user):
        raise ValidationError(_("%(name)s 是唯一启用的管理员，不能改为其他角色。") % {"name": user.username})


def created(by: User, user: User) -> None:
    audit.record(by, audit.AuditAction.CREATE, user, {"role": user.role, "is_active": user.is_active})


def changed(by: User, user: User, changes: dict) -> None:
    if changes:
        audit.record(by, audit.AuditAction.UPDATE, user, {"changes": changes})


def set_active(by: User, user: User, active: bool) -> None:
    if not active and user.pk == by.pk:
        raise ValidationError(_("不能停用自己的账号。"))
    if not active and user.role == Role.ADMIN and not _other_active_admins(user):
        raise ValidationError(_("%(name)s 是唯一启用的管理员，不能停用。") % {"name": user.username})
    if user.is_active == active:
        return
    user.is_active = active
    user.save(update_fields=["is_active"])
    changed(by, user, {"is_active": [not active, active]})


def password_reset(by: User, user: User) -> None:
    """Called once a new password is saved (the form validated and stored it)."""
    audit.record(by, audit.AuditAction.UPDATE, user, {"password": "reset"})


def lift_lockout(by: User, user: User) -> int:
    removed = unlock(username=user.username)
    audit.record(by, audit.AuditAction.UPDATE, user, {"unlocked": removed})
    return removed


def revoke_token(by: User, token: ApiToken) -> None:
    ApiToken.objects.filter(pk=token.pk).revoke(REVOKED_BY_HAND)
    audit.record(by, audit.AuditAction.UPDATE, token.user, {"token_revoked": token.prefix})
