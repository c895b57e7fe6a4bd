"""The audit log page (审计日志): admins and managers read it; nobody can change it from the app."""

import datetime

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from kehu.lib.pagination import keyset_page

from .models import AuditAction, AuditEntry

PAGE_SIZE = 50
# The action labels live in models.AuditAction (Chinese); listed here so makemessages offers them for translation.
ACTION_LABELS = [gettext_noop(label) for label in (
    "查看联系方式", "查看客户列表", "新建", "修改", "删除", "合并", "导入", "导出", "备份", "恢复", "导出个人信息",
    "删除/匿名化")]


def _date(value: str) -> datetime.date | None:
    try:
        return datetime.date.fromisoformat(value.strip())
    except ValueError:
        return None


def filtered_entries(params) -> tuple[QuerySet, dict]:
    """Entries matching the page's filters: user name, action, customer code, date range (inclusive)."""
    qs = AuditEntry.objects.all()
    chosen = {key: params.get(key, "").strip()[:150] for key in ("user", "action", "code", "start", "end")}
    if chosen["user"]:
        qs = qs.filter(username__icontains=chosen["user"])
    if chosen["action"] in AuditAction.values:
        qs = qs.filter(action=chosen["action"])
    if chosen["code"]:
        code = chosen["code"].upper()
        qs = qs.filter(Q(target_code=code) | Q(codes__contains=code))
    if start := _date(chosen["start"]):
        qs = qs.filter(at__gte=timezone.make_aware(datetime.datetime.combine(start, datetime.time.min)))
    if end := _date(chosen["end"]):
        qs = qs.filter(at__lt=timezone.make_aware(datetime.datetime.combine(end + datetime.timedelta(days=1),
                                                                            datetime.time.min)))
    return qs, chosen


@login_required
def audit_log(request: HttpRequest) -> HttpResponse:
    if not request.user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以查看审计日志"))
    qs, chosen = filtered_entries(request.GET)
    page = keyset_page(qs.select_related("user"), "-id", request.GET.get("cursor", ""), PAGE_SIZE)
    return render(request, "accounts/audit.html", {
        "page": page, "chosen": chosen, "actions": AuditAction.choices,
        "is_first_page": not request.GET.get("cursor"),
    })
