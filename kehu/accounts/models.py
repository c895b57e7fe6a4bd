from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import models


class Role(models.TextChoices):
    ADMIN = "admin", "管理员"
    MANAGER = "manager", "经理"
    SALES = "sales", "销售"
    SERVICE = "service", "客服"
    VIEWER = "viewer", "只读"


class User(AbstractUser):
    """A person who works in kehu. What they may see and change follows from `role`."""

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


class ApiToken(models.Model):
    """A personal API token. Only its SHA-256 hash is kept; the token itself is shown once, when issued."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="用户", on_delete=models.CASCADE,
                             related_name="api_tokens")
    name = models.CharField("名称", max_length=60, blank=True, default="")
    prefix = models.CharField("令牌前缀", max_length=16, help_text="令牌开头几位，用于辨认，不足以登录")
    key_hash = models.CharField("令牌哈希（SHA-256）", max_length=64, unique=True)
    created_at = models.DateTimeField("创建时间", auto_now_add=True)
    last_used_at = models.DateTimeField("最近使用时间", null=True, blank=True)

    class Meta:
        verbose_name = "API 令牌"
        verbose_name_plural = "API 令牌"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name or self.user})"
