"""Working with customers: preferences and consent, communications, follow-ups, feedback."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kehu.customers.models import Customer
from kehu.sales.models import Category


class MarketingChannel(models.TextChoices):
    SMS = "sms", _("短信")
    EMAIL = "email", _("邮件")
    WECHAT = "wechat", _("微信/公众号")
    PHONE = "phone", _("电话")


class Preference(models.Model):
    """What a customer likes and how they want to be reached (declared, not derived)."""

    customer = models.OneToOneField(Customer, on_delete=models.CASCADE, related_name="preference")
    categories = models.ManyToManyField(Category, verbose_name=_("偏好品类"), blank=True)
    preferred_channel = models.CharField(_("偏好营销渠道"), max_length=10, choices=MarketingChannel.choices,
                                         blank=True, default="")
    notes = models.CharField(_("偏好说明"), max_length=200, blank=True, default="")

    class Meta:
        verbose_name = _("偏好信息")
        verbose_name_plural = _("偏好信息")


class Consent(models.Model):
    """Marketing consent for one channel, with when and how it was given or withdrawn."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="consents")
    channel = models.CharField(_("营销渠道"), max_length=10, choices=MarketingChannel.choices)
    granted = models.BooleanField(_("同意接收"), default=True)
    changed_at = models.DateTimeField(_("时间"), default=timezone.now)
    source = models.CharField(_("来源"), max_length=50, blank=True, default="")

    class Meta:
        verbose_name = _("营销授权")
        verbose_name_plural = _("营销授权")
        constraints = [models.UniqueConstraint(fields=["customer", "channel"], name="one_consent_per_channel")]


class CommunicationMethod(models.TextChoices):
    PHONE = "phone", _("电话")
    WECHAT = "wechat", _("微信")
    EMAIL = "email", _("邮件")
    SMS = "sms", _("短信")
    VISIT = "visit", _("面对面")


class Communication(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="communications")
    occurred_at = models.DateTimeField(_("沟通时间"), default=timezone.now)
    method = models.CharField(_("沟通方式"), max_length=10, choices=CommunicationMethod.choices)
    content = models.TextField(_("沟通内容"))
    outcome = models.CharField(_("沟通结果"), max_length=200, blank=True, default="")
    next_follow_up = models.DateField(_("下次跟进日期"), null=True, blank=True)
    author = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("记录人"), null=True,
                               on_delete=models.SET_NULL, related_name="communications")

    class Meta:
        verbose_name = _("沟通记录")
        verbose_name_plural = _("沟通记录")
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["customer", "occurred_at"], name="comm_customer_time_idx")]


class FollowUpQuerySet(models.QuerySet):
    def open(self) -> "FollowUpQuerySet":
        return self.filter(done=False)

    def due_by(self, day) -> "FollowUpQuerySet":
        return self.open().filter(due__lte=day)


class FollowUp(models.Model):
    """A task: contact this customer by this date."""

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="follow_ups")
    title = models.CharField(_("跟进事项"), max_length=200)
    due = models.DateField(_("截止日期"))
    assignee = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("跟进人"), null=True,
                                 on_delete=models.SET_NULL, related_name="follow_ups")
    done = models.BooleanField(_("已完成"), default=False)
    done_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    reason = models.CharField(_("生成原因"), max_length=40, blank=True, default="",
                              help_text=_("自动生成的任务写明原因，避免重复生成"))
    communication = models.ForeignKey(Communication, null=True, blank=True, on_delete=models.SET_NULL,
                                      related_name="follow_ups")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = FollowUpQuerySet.as_manager()

    class Meta:
        verbose_name = _("跟进任务")
        verbose_name_plural = _("跟进任务")
        ordering = ["done", "due", "id"]
        indexes = [models.Index(fields=["assignee", "done", "due"], name="followup_assignee_due_idx")]

    def __str__(self) -> str:
        return self.title

    @property
    def is_overdue(self) -> bool:
        return not self.done and self.due < timezone.localdate()


class FeedbackDimension(models.Model):
    """A rating dimension the shop defines: 口味, 服务态度, 环境, 速度…"""

    name = models.CharField(_("评价维度"), max_length=30, unique=True)
    position = models.PositiveSmallIntegerField(_("顺序"), default=0)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("评价维度")
        verbose_name_plural = _("评价维度")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def label(self) -> str:
        """The name as the reader sees it: kehu's default dimensions (产品质量 …) in the reader's language, a shop's
        own names as typed."""
        return gettext(self.name)


class Feedback(models.Model):
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="feedback")
    received_at = models.DateTimeField(_("反馈时间"), default=timezone.now)
    comment = models.TextField(_("评价内容"), blank=True, default="")
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        verbose_name = _("客户反馈")
        verbose_name_plural = _("客户反馈")
        ordering = ["-received_at", "-id"]

    @property
    def average_score(self) -> float | None:
        scores = [r.score for r in self.ratings.all()]
        return round(sum(scores) / len(scores), 1) if scores else None


class FeedbackRating(models.Model):
    feedback = models.ForeignKey(Feedback, on_delete=models.CASCADE, related_name="ratings")
    dimension = models.ForeignKey(FeedbackDimension, on_delete=models.PROTECT, verbose_name=_("评价维度"))
    score = models.PositiveSmallIntegerField(_("评分"), validators=[MinValueValidator(1), MaxValueValidator(5)])

    class Meta:
        constraints = [models.UniqueConstraint(fields=["feedback", "dimension"], name="one_rating_per_dimension")]
