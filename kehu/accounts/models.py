from datetime import timedelta
from functools import cache

from django.apps import apps
from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from .credentials import USERNAME_HELP, username_validators


class Role(models.TextChoices):
    ADMIN = "admin", "管理员"
    MANAGER = "manager", "经理"
    SALES = "sales", "销售"
    SERVICE = "service", "客服"
    VIEWER = "viewer", "只读"


class User(AbstractUser):
    """A person who works in kehu. What they may see and change follows from `role`."""

    username = models.CharField("用户名", max_length=150, unique=True, validators=username_validators,
                                help_text=USERNAME_HELP, error_messages={"unique": "这个用户名已被使用。"})
    role = models.CharField("角色", max_length=16, choices=Role.choices, default=Role.VIEWER)

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户"

    def __str__(self) -> str:
        return self.display_name

    def save(self, *args, **kwargs):
        # The role decides everything; Django's staff flags follow it (settings pages are for admins).
        self.is_staff = self.is_superuser = self.role == Role.ADMIN
        super().save(*args, **kwargs)

    @property
    def display_name(self) -> str:
        return (self.last_name + self.first_name).strip() or self.username

    @property
    def sees_contact_details(self) -> bool:
        """Mobile, e-mail, WeChat, address and birthday in full; masked otherwise."""
        return self.role in settings.KEHU_CONTACT_ROLES

    @property
    def sees_all_customers(self) -> bool:
        """Sales reps see only the customers they own."""
        return self.role != Role.SALES

    @property
    def can_edit_customers(self) -> bool:
        return self.role != Role.VIEWER

    @property
    def can_manage(self) -> bool:
        """Settings, users, merges: admin and manager."""
        return self.role in (Role.ADMIN, Role.MANAGER)


TOKEN_DAYS = 90  # a token lives this long unless `kehu apitoken --days` says otherwise


def default_token_expiry():
    return timezone.now() + timedelta(days=TOKEN_DAYS)


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        """Tokens that still open the API: not revoked, not expired."""
        return self.filter(revoked_at__isnull=True, expires_at__gt=timezone.now())

    def revoke(self, reason: str) -> int:
        return self.filter(revoked_at__isnull=True).update(revoked_at=timezone.now(), revoked_reason=reason[:40])


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 hash is kept; the token itself is shown once, when issued."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="用户", on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField("名称", max_length=60, blank=True, default="")
    prefix = models.CharField("令牌前缀", max_length=16, help_text="令牌开头几位，用于辨认，不足以登录")
    key_hash = models.CharField("令牌哈希（SHA-256）", max_length=64, unique=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近使用时间", null=True, blank=True)
    expires_at = models.DateTimeField("到期时间", default=default_token_expiry)
    revoked_at = models.DateTimeField("撤销时间", null=True, blank=True)
    revoked_reason = models.CharField("撤销原因", max_length=40, blank=True, default="")

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API 令牌"
        verbose_name_plural = "API 令牌"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"

    @property
    def state(self) -> str:
        if self.revoked_at:
            return f"已撤销（{self.revoked_reason}）" if self.revoked_reason else "已撤销"
        return "已过期" if self.expires_at <= timezone.now() else "有效"


class AuditAction(models.TextChoices):
    VIEW = "view", "查看联系方式"
    VIEW_LIST = "view_list", "查看客户列表"
    CREATE = "create", "新建"
    UPDATE = "update", "修改"
    DELETE = "delete", "删除"
    MERGE = "merge", "合并"
    IMPORT = "import", "导入"
    EXPORT = "export", "导出"
    BACKUP = "backup", "备份"
    RESTORE = "restore", "恢复"
    PIPL_EXPORT = "pipl_export", "导出个人信息"
    ERASE = "erase", "删除/匿名化"
    SEARCH = "search", "按联系方式搜索"
    LOOKUP = "lookup", "来电查询"
    DUPLICATE = "duplicate", "查重命中他人客户"


# How an entry came in, and the words its details use, as the audit page shows them.
CHANNEL_LABELS = {"web": gettext_lazy("网页"), "api": "API", "cli": gettext_lazy("命令行")}
DETAIL_LABELS = {
    "batch": gettext_lazy("批次"), "file": gettext_lazy("文件"), "new": gettext_lazy("新增"),
    "updated": gettext_lazy("更新"), "rejected": gettext_lazy("拒绝"), "encrypted": gettext_lazy("加密"),
    "database": gettext_lazy("数据库"), "format": gettext_lazy("格式"), "mode": gettext_lazy("方式"),
    "orders": gettext_lazy("订单"), "merged_code": gettext_lazy("被合并的客户编号"), "moved": gettext_lazy("转移"),
    "returned": gettext_lazy("退回公海"), "days": gettext_lazy("天数"), "owner": gettext_lazy("负责人"),
    "from": gettext_lazy("来源"), "found": gettext_lazy("找到"), "refused": gettext_lazy("已拒绝"),
    "field": gettext_lazy("字段"), "value_hash": gettext_lazy("值的哈希"), "name": gettext_lazy("名称"),
    "rows": gettext_lazy("行数"),
    "filter": gettext_lazy("筛选条件"), "search_hash": gettext_lazy("搜索词哈希"),
    "masked": gettext_lazy("联系方式已遮蔽"), "masked_role": gettext_lazy("联系方式已遮蔽"),
    "password": gettext_lazy("加密文件"), "channel": gettext_lazy("营销渠道"),
}


@cache
def _field_labels(model_name: str) -> dict[str, str]:
    """Field name → verbose name (the Chinese msgid) of the model an entry is about, found by its model name."""
    for model in apps.get_models():
        if model._meta.model_name == model_name:
            return {f.name: str(f.verbose_name) for f in model._meta.get_fields() if hasattr(f, "verbose_name")}
    return {}


class AuditEntry(models.Model):
    """One thing someone did or saw (审计日志). Written once, never changed; pruned after the retention time.

    Contact fields never appear in plaintext here: changes to them are stored masked (138****5678).
    """

    at = models.DateTimeField("时间", default=timezone.now, db_index=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="用户", null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    username = models.CharField("用户名", max_length=150, blank=True, default="")
    channel = models.CharField("途径", max_length=10, blank=True, default="")  # web, api, cli
    action = models.CharField("操作", max_length=16, choices=AuditAction.choices, db_index=True)
    target_type = models.CharField("对象类型", max_length=30, blank=True, default="")
    target_code = models.CharField("客户编号", max_length=32, blank=True, default="", db_index=True)
    target_label = models.CharField("对象", max_length=200, blank=True, default="")
    codes = models.TextField("涉及的客户编号", blank=True, default="")  # list views: space-separated codes
    details = models.JSONField("详情", default=dict, blank=True)

    class Meta:
        verbose_name = "审计日志"
        verbose_name_plural = "审计日志"
        ordering = ["-id"]
        default_permissions = ("view",)

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.username} {self.get_action_display()} {self.target_label}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise ValueError("审计日志不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ValueError("审计日志不能删除（过期记录由 kehu audit_prune 清理）")

    @property
    def channel_label(self) -> str:
        return str(CHANNEL_LABELS.get(self.channel, self.channel))

    def change_items(self) -> list[tuple[str, object, object]]:
        """(field label, before, after) of a recorded change, in the reader's language."""
        labels = _field_labels(self.target_type)
        changes = (self.details or {}).get("changes", {})
        return [(gettext(labels[name]) if name in labels else name, *changes[name])
                for name in _in_label_order(changes, list(labels))]

    def detail_items(self) -> list[tuple[str, object]]:
        """(label, value) of the other details."""
        details = {key: value for key, value in (self.details or {}).items() if key != "changes"}
        return [(str(DETAIL_LABELS.get(key, key)), details[key])
                for key in _in_label_order(details, list(DETAIL_LABELS))]


def _in_label_order(keys, order: list[str]) -> list[str]:
    """The keys in the labels' order, others after them alphabetically: PostgreSQL's jsonb keeps no key order."""
    rank = {key: n for n, key in enumerate(order)}
    return sorted(keys, key=lambda key: (rank.get(key, len(rank)), key))


class ShopSettings(models.Model):
    """Settings of the shop as a whole, one row (pk = 1): for now its currency, which every amount on screen, in
    sentences, exports and charts is labelled with (kehu.lib.money)."""

    currency = models.CharField("币种", max_length=3, default="CNY",
                                help_text="所有金额（页面、说明、导出、图表）都以此币种显示；只改显示，不换算金额。")
    updated_at = models.DateTimeField("更新时间", auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = "店铺设置"
        verbose_name_plural = "店铺设置"

    def __str__(self) -> str:
        return "店铺设置"

    CACHE_KEY = "kehu:accounts:currency"
    MEMO_SECONDS = 5.0  # a process re-reads the shared cache at most this often
    _memo: tuple[float, str] | None = None

    @classmethod
    def currency_code(cls) -> str:
        """The shop's currency code (CNY if never set): remembered a few seconds per process, then the shared
        cache, then the store — so a page of amounts does not read the setting once per amount."""
        import time

        from django.core.cache import cache

        now = time.monotonic()
        if cls._memo and cls._memo[0] > now:
            return cls._memo[1]
        code = cache.get(cls.CACHE_KEY)
        if code is None:
            code = cls.objects.filter(pk=1).values_list("currency", flat=True).first() or "CNY"
            cache.set(cls.CACHE_KEY, code, 300)
        cls._memo = (now + cls.MEMO_SECONDS, code)
        return code

    @classmethod
    def store_currency(cls, code: str, user=None) -> None:
        from django.core.cache import cache

        cls.objects.update_or_create(pk=1, defaults={"currency": code, "updated_by": user})
        cache.delete(cls.CACHE_KEY)
        cls.forget()

    @classmethod
    def forget(cls) -> None:
        """Drop this process's memo (tests, and after a change)."""
        cls._memo = None
