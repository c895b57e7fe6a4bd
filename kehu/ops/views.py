"""系统设置 → 备份 and 邮件服务器: list, make and verify backups, the last nightly run; the SMTP settings as configured.

Restoring stays a console command (`kehu restore FILE`): no web address replaces the store. Admins only.
SMTP is set in the environment (KEHU_SMTP_*), not in the database: the password stays out of the store and its
backups, and nobody with a browser session can send the shop's campaign mail elsewhere. The page shows what
is configured (never the password).
"""

import datetime
import os

from django.conf import settings
from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from kehu.accounts import audit
from kehu.lib.settings_menu import settings_view

from . import backup as backups
from . import nightly
from .store import database_label

SMTP_SETTINGS = (
    ("KEHU_SMTP_HOST", "EMAIL_HOST"), ("KEHU_SMTP_PORT", "EMAIL_PORT"), ("KEHU_SMTP_USER", "EMAIL_HOST_USER"),
    ("KEHU_SMTP_TLS", "EMAIL_USE_TLS"), ("KEHU_SMTP_FROM", "DEFAULT_FROM_EMAIL"),
)


@settings_view()
def backup_list(request: HttpRequest) -> HttpResponse:
    files = [{"name": path.name, "size": path.stat().st_size,
              "made": datetime.datetime.fromtimestamp(path.stat().st_mtime, tz=datetime.UTC),
              "encrypted": backups.is_encrypted(path)} for path in reversed(backups.stored_backups())]
    night = nightly.last()
    steps = [{**step, "label": nightly.STEP_LABELS.get(step["step"], step["step"])} for step in night.steps] \
        if night else []
    return render(request, "ops/backups.html", {"files": files, "folder": backups.backup_dir(),
                                                "database": database_label(), "key": backups.key_location(),
                                                "night": night, "night_steps": steps,
                                                "nightly_at": nightly.scheduled_time(), "zone": settings.TIME_ZONE})


@settings_view()
@require_POST
def backup_make(request: HttpRequest) -> HttpResponse:
    try:
        path = backups.backup()
    except backups.BackupError as exc:
        messages.error(request, _("备份失败：%(error)s") % {"error": exc})
        return redirect("ops:backups")
    audit.record(request.user, audit.AuditAction.BACKUP, path.name, {"encrypted": True})
    messages.success(request, _("已备份到 %(name)s（%(size).1f MB）。数据密钥要和备份一起保管。") % {
        "name": path.name, "size": path.stat().st_size / 1024 / 1024})
    return redirect("ops:backups")


@settings_view()
@require_POST
def backup_verify(request: HttpRequest) -> HttpResponse:
    stored = {path.name: path for path in backups.stored_backups()}
    path = stored.get(request.POST.get("name", ""))
    if path is None:
        messages.error(request, _("没有这份备份。"))
        return redirect("ops:backups")
    try:
        result = backups.verify(path)
    except backups.BackupError as exc:
        result = {"problems": [str(exc)], "tables": 0, "rows": 0}
    audit.record(request.user, audit.AuditAction.BACKUP, path.name,
                 {"verified": not result["problems"], "problems": result["problems"][:10]})
    if result["problems"]:
        messages.error(request, _("备份 %(name)s 校验失败：%(problems)s") % {
            "name": path.name, "problems": "；".join(result["problems"][:5])})
    else:
        messages.success(request, _("备份 %(name)s 完好：已恢复到临时库，%(tables)s 张表共 %(rows)s 行与备份时一致。")
                         % {"name": path.name, "tables": result["tables"], "rows": result["rows"]})
    return redirect("ops:backups")


@settings_view()
def mail(request: HttpRequest) -> HttpResponse:
    rows = [{"env": env, "value": getattr(settings, name), "set": env in os.environ} for env, name in SMTP_SETTINGS]
    return render(request, "ops/mail.html", {"rows": rows, "password_set": bool(settings.EMAIL_HOST_PASSWORD)})
