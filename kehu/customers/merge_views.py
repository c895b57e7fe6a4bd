"""The merge page: two customer records side by side, and a button to merge one into the other."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from .dedupe import duplicates_of
from .merge import FILLABLE, MergeConflict, MergeError, merge_customers
from .models import Customer

MOVED_LABELS = {"orders": "消费记录", "communications": "沟通记录", "follow_ups": "跟进任务", "feedback": "客户反馈",
                "consents": "营销授权", "preferences": "偏好信息", "tags": "标签"}


def _profile_rows(kept: Customer, other: Customer, user) -> list[dict]:
    """Label, both values as the user may see them, and whether merging fills the kept one's blank."""
    kc, oc = kept.contact_for(user), other.contact_for(user)

    def row(label, field, kv, ov):
        fills = field in FILLABLE and kv in (None, "", "—") and ov not in (None, "", "—")
        return {"label": label, "kept": kv or "—", "other": ov or "—", "fills": fills,
                "differs": (kv or "") != (ov or "")}

    return [
        row(_("姓名/名称"), "name", kept.name, other.name),
        row(_("类型"), "kind", kept.get_kind_display(), other.get_kind_display()),
        row(_("性别"), "gender", kept.get_gender_display() if kept.gender else "",
            other.get_gender_display() if other.gender else ""),
        row(_("手机"), "mobile", kc["mobile"], oc["mobile"]),
        row(_("电子邮箱"), "email", kc["email"], oc["email"]),
        row(_("微信号"), "wechat", kc["wechat"], oc["wechat"]),
        row(_("生日"), "birthday", kc["birthday"], oc["birthday"]),
        row(_("省份"), "province", kept.province, other.province),
        row(_("城市"), "city", kept.city, other.city),
        row(_("区县"), "district", kept.district, other.district),
        row(_("详细地址"), "address", kc["address"], oc["address"]),
        row(_("公司"), "company", kept.company, other.company),
        row(_("行业"), "industry", kept.industry, other.industry),
        row(_("公司规模"), "company_size", kept.get_company_size_display() if kept.company_size else "",
            other.get_company_size_display() if other.company_size else ""),
        row(_("客户评级"), "grade", kept.grade, other.grade),
        row(_("负责人"), "owner", kept.owner.display_name if kept.owner_id else "",
            other.owner.display_name if other.owner_id else ""),
        row(_("来源渠道"), "source", kept.source, other.source),
        row(_("注册时间"), "registered_at", f"{kept.registered_at:%Y-%m-%d}", f"{other.registered_at:%Y-%m-%d}"),
        row(_("标签"), "tags", "、".join(t.name for t in kept.tags.all()), "、".join(t.name for t in other.tags.all())),
        row(_("备注"), "notes", kept.notes, other.notes),
    ]


def _counts(customer: Customer) -> dict[str, int]:
    return {
        _("消费记录"): customer.orders.count(),
        _("沟通记录"): customer.communications.count(),
        _("跟进任务"): customer.follow_ups.count(),
        _("客户反馈"): customer.feedback.count(),
    }


@login_required
@require_http_methods(["GET", "POST"])
def merge(request: HttpRequest, code: str) -> HttpResponse:
    """GET ?other=CODE compares the two; POST other=CODE merges `other` into `code` (the kept one)."""
    if not request.user.can_manage:
        raise PermissionDenied(_("只有管理员和经理可以合并客户"))
    kept = get_object_or_404(Customer.objects.select_related("owner"), code=code)
    other_code = (request.POST.get("other") or request.GET.get("other") or "").strip()
    other, error = None, ""
    if other_code:
        other = Customer.objects.select_related("owner").filter(code=other_code).first()
        if other is None:
            error = _("找不到客户编号 %(code)s") % {"code": other_code}
        elif other.pk == kept.pk:
            other, error = None, _("不能把客户与自己合并")

    if request.method == "POST" and other is not None:
        try:
            versions = (int(request.POST["kept_version"]), int(request.POST["other_version"]))
        except (KeyError, ValueError):
            versions = None
        try:
            record = merge_customers(kept, other, user=request.user, expected_versions=versions)
        except MergeConflict as exc:
            messages.error(request, str(exc))
            return redirect(f"{reverse('customers:merge', args=[kept.code])}?other={other.code}")
        except MergeError as exc:
            error = str(exc)
        else:
            moved = "，".join(f"{MOVED_LABELS[k]} {v}" for k, v in record.moved.items()
                             if k in MOVED_LABELS and v)
            messages.success(request, _("已将 %(name)s（%(code)s）合并到本客户。%(moved)s") % {
                "name": record.merged_name, "code": record.merged_code,
                "moved": _("转入：%s。") % moved if moved else ""})
            return redirect(kept.get_absolute_url())
    elif request.method == "POST" and not error:
        error = _("请填写要合并进来的客户编号")

    context = {
        "kept": kept,
        "other": other,
        "other_code": other_code,
        "error": error,
        "suggestions": [] if other else duplicates_of(kept),
    }
    if other is not None:
        context.update(rows=_profile_rows(kept, other, request.user),
                       kept_counts=_counts(kept), other_counts=_counts(other))
    return render(request, "customers/merge.html", context, status=400 if error else 200)
