"""系统设置 → 用户与角色: the users, with their recent login failures; create, change, deactivate, reset a
password, unlock, revoke API tokens. Admins only. Logic in users.py; every change is audited there."""

from django.contrib import messages
from django.contrib.auth.forms import SetPasswordForm
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from kehu.lib import money
from kehu.lib.settings_menu import settings_view

from . import audit, users
from .models import ApiToken, ShopSettings, User
from .settings_forms import CurrencyForm, UserCreateForm, UserEditForm


@settings_view()
def user_list(request: HttpRequest) -> HttpResponse:
    people = users.with_recent_failures(User.objects.order_by("-is_active", "username"))
    return render(request, "accounts/settings/users.html", {"people": people})


@settings_view()
@require_http_methods(["GET", "POST"])
def user_create(request: HttpRequest) -> HttpResponse:
    form = UserCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        users.created(request.user, user)
        messages.success(request, _("已创建用户 %(name)s。请把密码告诉他本人。") % {"name": user.username})
        return redirect("users:detail", user.pk)
    return render(request, "accounts/settings/user_new.html", {"form": form})


@settings_view()
@require_http_methods(["GET", "POST"])
def user_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(users.with_recent_failures(User.objects.all()), pk=pk)
    before = {"role": person.role, "last_name": person.last_name, "first_name": person.first_name,
              "email": person.email}
    form = UserEditForm(request.POST or None, instance=person)
    if request.method == "POST" and form.is_valid():
        try:
            users.check_role_change(person, before["role"], form.cleaned_data["role"])
        except ValidationError as exc:
            form.add_error("role", exc)
        else:
            form.save()
            users.changed(request.user, person, {k: [v, getattr(person, k)] for k, v in before.items()
                                                 if getattr(person, k) != v})
            messages.success(request, _("已保存。"))
            return redirect("users:detail", person.pk)
    return _user_page(request, person, form=form)


def _user_page(request: HttpRequest, person: User, form=None, password_form=None) -> HttpResponse:
    return render(request, "accounts/settings/user.html", {
        "person": person, "form": form or UserEditForm(instance=person),
        "password_form": password_form or SetPasswordForm(person), "tokens": list(person.api_tokens.all())})


@settings_view()
@require_POST
def user_password(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    form = SetPasswordForm(person, request.POST)
    if form.is_valid():
        form.save()
        users.password_reset(request.user, person)
        messages.success(request, _("已为 %(name)s 设置新密码。") % {"name": person.username})
        return redirect("users:detail", person.pk)
    return _user_page(request, users.with_recent_failures(User.objects.all()).get(pk=pk), password_form=form)


@settings_view()
@require_POST
def user_active(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    active = request.POST.get("active") == "1"
    try:
        users.set_active(request.user, person, active)
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    else:
        messages.success(request, (_("已启用 %(name)s。") if active else _("已停用 %(name)s，他不能再登录。"))
                         % {"name": person.username})
    return redirect("users:detail", person.pk)


@settings_view()
@require_POST
def user_unlock(request: HttpRequest, pk: int) -> HttpResponse:
    person = get_object_or_404(User, pk=pk)
    removed = users.lift_lockout(request.user, person)
    messages.success(request, _("已解除 %(name)s 的登录锁定（清除 %(n)s 条失败记录）。") % {
        "name": person.username, "n": removed})
    return redirect("users:detail", person.pk)


@settings_view()
@require_POST
def token_revoke(request: HttpRequest, pk: int, token_pk: int) -> HttpResponse:
    token = get_object_or_404(ApiToken.objects.select_related("user"), pk=token_pk, user_id=pk)
    users.revoke_token(request.user, token)
    messages.success(request, _("已撤销令牌 %(prefix)s…。") % {"prefix": token.prefix})
    return redirect("users:detail", pk)


@settings_view()
@require_http_methods(["GET", "POST"])
def currency(request: HttpRequest) -> HttpResponse:
    """系统设置 → 币种: the shop's currency, used by every amount shown (kehu.lib.money). Admins only."""
    before = ShopSettings.currency_code()
    form = CurrencyForm(request.POST or None, initial={"currency": before})
    if request.method == "POST" and form.is_valid():
        code = form.cleaned_data["currency"]
        if code != before:
            ShopSettings.store_currency(code, request.user)
            audit.record(request.user, audit.AuditAction.UPDATE, "币种",
                         {"settings": "currency", "changes": {"currency": [before, code]}})
        messages.success(request, _("币种已保存：%(name)s。") % {"name": money.get(code).name})
        return redirect("shop:currency")
    return render(request, "accounts/settings/currency.html", {
        "form": form, "currency": money.get(before), "currencies": money.CURRENCIES.values()})
