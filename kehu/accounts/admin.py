from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.views.decorators.http import require_POST

from .lockout import unlock
from .models import ApiToken, User
from .tokens import REVOKED_BY_HAND
from .users import with_recent_failures

# Django's admin is kept for admins (superusers) at KEHU_ADMIN_PATH, linked from nowhere: the settings people use
# are kehu's own pages (/settings/). Here remain the raw tables, and products and categories.
admin.site.site_header = "kehu 数据后台"
admin.site.site_title = "kehu 数据后台"
admin.site.index_title = "数据后台（日常设置请用 系统设置 /settings/）"


class ApiTokenInline(admin.TabularInline):
    """A user's tokens on their page: when each was last used, and a button that revokes it.
    New tokens are made with `kehu apitoken NAME` (the token is shown once, in the terminal)."""

    model = ApiToken
    fields = readonly_fields = ("prefix", "name", "created_at", "expires_at", "last_used_at", "state", "revoke")
    extra = 0
    can_delete = False
    verbose_name_plural = "API 令牌（用 kehu apitoken 用户名 生成）"

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="撤销")
    def revoke(self, token: ApiToken) -> str:
        if token.revoked_at:
            return "—"
        url = reverse("admin:accounts_user_revoke_token", args=[token.user_id, token.pk])
        # formaction: the button posts the page's own form (and CSRF token) to the revoke view, no script needed
        return format_html('<button type="submit" class="button" formaction="{}" formmethod="post">撤销令牌</button>',
                           url)


@admin.register(User)
class KehuUserAdmin(UserAdmin):
    list_display = ("username", "display_name", "role", "is_active", "last_login", "login_failures")
    list_filter = ("role", "is_active")
    fieldsets = (*UserAdmin.fieldsets, ("角色 Role", {"fields": ("role",)}))
    add_fieldsets = (*UserAdmin.add_fieldsets, ("角色 Role", {"fields": ("role",)}))
    inlines = [ApiTokenInline]
    actions = ["unlock_logins"]

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else []  # a user being added has no tokens yet

    def get_queryset(self, request):
        return with_recent_failures(super().get_queryset(request))

    @admin.display(description="近期登录失败", ordering="recent_failures")
    def login_failures(self, user: User) -> int:
        return user.recent_failures

    @admin.action(description="解除所选用户的登录锁定")
    def unlock_logins(self, request, queryset):
        removed = sum(unlock(username=user.username) for user in queryset)
        names = "、".join(queryset.values_list("username", flat=True))
        self.message_user(request, f"已解除 {names} 的登录锁定（清除 {removed} 条失败记录）。", messages.SUCCESS)

    def get_urls(self):
        revoke = self.admin_site.admin_view(require_POST(self.revoke_token_view))
        return [path("<int:user_id>/tokens/<int:token_id>/revoke/", revoke, name="accounts_user_revoke_token"),
                *super().get_urls()]

    def revoke_token_view(self, request, user_id: int, token_id: int):
        token = get_object_or_404(ApiToken, pk=token_id, user_id=user_id)
        if not self.has_change_permission(request, token.user):
            raise PermissionDenied
        ApiToken.objects.filter(pk=token.pk).revoke(REVOKED_BY_HAND)
        self.message_user(request, f"已撤销令牌 {token.prefix}…。", messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:accounts_user_change", args=[user_id]))
