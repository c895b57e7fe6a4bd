"""Acting on segments (精准营销): follow-up rules, playbooks per class, target lists and campaigns.

* :class:`FollowUpRule` — one row per automatic follow-up rule, with its thresholds (admin-editable).
* :class:`Playbook` — the suggested action for one class of one segmentation column (editable per shop).
* :class:`TargetList` — an audience (a class, or a saved customer-list filter) and a channel.
* :class:`Campaign` / :class:`CampaignContact` — a message sent to a target list, who was contacted
  (or held out as the control group), for attributing orders afterwards.
* :class:`CampaignSend` — one press of 发送邮件, run by the background worker (sends.py).
"""

import datetime

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from kehu.customers.models import Customer
from kehu.engagement.models import MarketingChannel
from kehu.lib.jobs import BackgroundJob


class RuleKey(models.TextChoices):
    BIRTHDAY = "birthday", _("生日祝福")
    LIFECYCLE = "lifecycle", _("进入沉睡/流失")
    AT_RISK = "at_risk", _("进入流失风险分层")
    P_ALIVE = "p_alive", _("活跃概率低且价值高")
    OVERDUE = "overdue", _("超过自身消费周期未购")
    FEEDBACK = "feedback", _("差评回访")


class FollowUpRule(models.Model):
    """One automatic follow-up rule and its thresholds; `kehu followups` reads these rows."""

    key = models.CharField(_("规则"), max_length=20, choices=RuleKey.choices, unique=True)
    enabled = models.BooleanField(_("启用"), default=True)
    days = models.PositiveIntegerField(_("天数"), default=7,
                                       help_text=_("生日：提前几天；差评：只看最近几天的反馈"))
    due_days = models.PositiveIntegerField(_("几天内完成"), default=3)
    threshold = models.FloatField(_("阈值"), default=0.0,
                                  help_text=_("活跃概率低于此值；差评：任一维度评分不高于此值"))
    min_value = models.DecimalField(_("最低价值（元）"), max_digits=14, decimal_places=2, default=0,
                                    help_text=_("流失风险价值（无则用未来12个月价值）不低于此值才生成"))
    classes = models.CharField(_("分层"), max_length=200, blank=True, default="",
                               help_text=_("流失风险分层，“列:分层”以逗号分隔，如 rf_segment:有流失风险"))

    class Meta:
        verbose_name = _("自动跟进规则")
        verbose_name_plural = _("自动跟进规则")
        ordering = ["id"]

    def __str__(self) -> str:
        return self.get_key_display()


class Playbook(models.Model):
    """What to do with the customers of one class (营销建议), e.g. 重要挽留客户 → 主动回访了解流失原因."""

    column = models.CharField(_("分层方式"), max_length=20)
    class_name = models.CharField(_("分层"), max_length=20)
    action = models.CharField(_("建议动作"), max_length=200)

    class Meta:
        verbose_name = _("营销建议")
        verbose_name_plural = _("营销建议")
        ordering = ["column", "id"]
        constraints = [models.UniqueConstraint(fields=["column", "class_name"], name="one_playbook_per_class")]

    def __str__(self) -> str:
        return f"{self.class_name}：{self.action}"


class TargetList(models.Model):
    """Customers to contact on one channel: a segment class, or a saved customer-list filter."""

    name = models.CharField(_("名单名称"), max_length=100)
    segment_column = models.CharField(_("分层方式"), max_length=20, blank=True, default="")
    segment_class = models.CharField(_("分层"), max_length=20, blank=True, default="")
    filter_query = models.CharField(_("客户筛选条件"), max_length=500, blank=True, default="",
                                    help_text=_("客户列表地址中 ? 之后的部分，如 province=广东省&rfm_class=重要价值客户"
                                                ))
    channel = models.CharField(_("营销渠道"), max_length=10, choices=MarketingChannel.choices)
    exclude_days = models.PositiveIntegerField(_("排除最近几天联系过的客户"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("目标名单")
        verbose_name_plural = _("目标名单")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("marketing:target_list", args=[self.pk])


class Campaign(models.Model):
    """A message to a target list on one channel, with an optional random hold-out (control) group."""

    name = models.CharField(_("活动名称"), max_length=100)
    target_list = models.ForeignKey(TargetList, verbose_name=_("目标名单"), on_delete=models.PROTECT,
                                    related_name="campaigns")
    channel = models.CharField(_("营销渠道"), max_length=10, choices=MarketingChannel.choices)
    subject = models.CharField(_("邮件主题"), max_length=200, blank=True, default="")
    message = models.TextField(_("消息模板"), help_text=_("可用 {姓名}、{推荐商品}、{优惠}"))
    offer = models.CharField(_("优惠内容"), max_length=200, blank=True, default="")
    holdout_percent = models.PositiveSmallIntegerField(_("对照组比例（%）"), default=0)
    seed = models.PositiveIntegerField(_("随机种子"), default=0)
    attribution_days = models.PositiveSmallIntegerField(_("归因天数"), default=14)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("营销活动")
        verbose_name_plural = _("营销活动")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("marketing:campaign", args=[self.pk])


class ContactStatus(models.TextChoices):
    PENDING = "pending", _("待联系")
    CONTACTED = "contacted", _("已联系")
    SENT = "sent", _("已发送")
    NO_CONSENT = "no_consent", _("未授权")
    FAILED = "failed", _("发送失败")
    HOLDOUT = "holdout", _("对照组")
    SENDING = "sending", _("发送中")  # handed to the mail server; a send interrupted here is not tried again


class CampaignContact(models.Model):
    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="contacts")
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="campaign_contacts")
    status = models.CharField(_("状态"), max_length=12, choices=ContactStatus.choices, default=ContactStatus.PENDING)
    contacted_at = models.DateTimeField(_("联系时间"), null=True, blank=True)
    by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("联系人"), null=True, blank=True,
                           on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = _("活动联系记录")
        verbose_name_plural = _("活动联系记录")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "customer"], name="one_contact_per_campaign")]
        indexes = [models.Index(fields=["customer", "contacted_at"], name="campaign_contact_time_idx")]

    @property
    def holdout(self) -> bool:
        return self.status == ContactStatus.HOLDOUT


class OwnershipChange(models.Model):
    """One change of a customer's owner through the pool (公海): returned to it, or claimed from it."""

    class Kind(models.TextChoices):
        RETURNED = "returned", _("退回公海")
        CLAIMED = "claimed", _("从公海领取")

    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="ownership_changes")
    kind = models.CharField(_("变更"), max_length=10, choices=Kind.choices)
    from_user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("原负责人"), null=True, blank=True,
                                  on_delete=models.SET_NULL, related_name="+")
    to_user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("新负责人"), null=True, blank=True,
                                on_delete=models.SET_NULL, related_name="+")
    reason = models.CharField(_("原因"), max_length=200, blank=True, default="")
    at = models.DateTimeField(_("时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("负责人变更")
        verbose_name_plural = _("负责人变更")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["customer", "at"], name="ownership_customer_time_idx")]

    def __str__(self) -> str:
        return f"{self.customer_id} {self.get_kind_display()}"


class CampaignSend(BackgroundJob):
    """One press of 发送邮件: the e-mails to the campaign's pending contacts, sent by the background worker; its
    progress, outcome and the process sending. At most one is queued or running per campaign."""

    STALE_AFTER = datetime.timedelta(minutes=5)  # a send on another host without a beat this long is dead

    class Status(models.TextChoices):
        QUEUED = "queued", _("等待开始")
        RUNNING = "running", _("进行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="sends")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发送人"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    total = models.PositiveIntegerField(_("待发送"), default=0)
    sent = models.PositiveIntegerField(_("已发送"), default=0)
    no_consent = models.PositiveIntegerField(_("未授权"), default=0)
    failed = models.PositiveIntegerField(_("发送失败"), default=0)

    class Meta:
        verbose_name = _("邮件发送任务")
        verbose_name_plural = _("邮件发送任务")
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(
            fields=["campaign"], condition=models.Q(status__in=["queued", "running"]),
            name="one_active_send_per_campaign")]

    def __str__(self) -> str:
        return f"{self.campaign_id} {self.get_status_display()}"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def done(self) -> int:
        return self.sent + self.no_consent + self.failed

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0
