"""Imports remembered: who imported what, what each import changed (so it can be reverted), saved mappings."""

import datetime
import json

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kehu.lib.fields import EncryptedTextField
from kehu.lib.jobs import BackgroundJob

STALE_AFTER = datetime.timedelta(minutes=10)


class ImportBatch(models.Model):
    """One run of an import: the file, who ran it, the counts and the problems found."""

    class Status(models.TextChoices):
        RUNNING = "running", _("进行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")
        INCOMPLETE = "incomplete", _("未完成")  # stopped midway: what was committed is recorded and can be reverted
        REVERTED = "reverted", _("已撤销")

    file_name = models.CharField(_("文件名"), max_length=255)
    stored_file = models.CharField(_("保存的文件"), max_length=500, blank=True, default="")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("导入人"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="import_batches")
    started_at = models.DateTimeField(_("开始时间"), default=timezone.now)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    # An import commits in chunks; each commit stamps this. A running batch without a commit for STALE_AFTER is
    # one whose process died (killed, power cut): incomplete.
    heartbeat_at = models.DateTimeField(_("最近提交时间"), null=True, blank=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.RUNNING)
    on_duplicate = models.CharField(_("重复客户处理"), max_length=10, default="update")
    counts = models.JSONField(_("计数"), default=dict, blank=True)
    problems = models.JSONField(_("问题"), default=list, blank=True)
    reverted_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    reverted_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                    related_name="+")

    class Meta:
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"#{self.pk} {self.file_name}"

    @property
    def interrupted(self) -> bool:
        """Stopped midway: marked incomplete, or still marked running long after its last commit."""
        if self.status == self.Status.INCOMPLETE:
            return True
        last = self.heartbeat_at or self.started_at
        return self.status == self.Status.RUNNING and timezone.now() - last > STALE_AFTER

    @property
    def status_label(self) -> str:
        return self.Status.INCOMPLETE.label if self.interrupted else self.get_status_display()

    @property
    def can_revert(self) -> bool:
        return self.status == self.Status.DONE or self.interrupted

    def total(self, key: str) -> int:
        return sum(c.get(key, 0) for c in self.counts.values())


class ImportJob(BackgroundJob):
    """A web import handed to the background worker (`kehu worker`): its progress, outcome and the process
    running it, kept in the database so that every server process of the store shows the same progress."""

    STALE_AFTER = datetime.timedelta(minutes=5)  # a job on another host without a beat this long is dead

    class Status(models.TextChoices):
        QUEUED = "queued", "等待开始"
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="导入人", null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    file_name = models.CharField("文件名", max_length=255)
    path = models.CharField("上传的文件", max_length=500)  # under KEHU_HOME/imports (uploads.py)
    sheets = models.JSONField("工作表映射", default=dict, blank=True)  # {sheet: {"kind", "mapping"}}
    on_duplicate = models.CharField("重复客户处理", max_length=10, default="update")
    on_conflict = models.CharField("编号冲突处理", max_length=10, default="error")
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField("已处理行数", default=0)
    total = models.PositiveIntegerField("总行数", default=0)
    batch = models.ForeignKey(ImportBatch, verbose_name="导入批次", null=True, blank=True,
                              on_delete=models.SET_NULL, related_name="+")

    class Meta:
        verbose_name = verbose_name_plural = "后台导入任务"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name}（{self.get_status_display()}）"


class ExportJob(BackgroundJob):
    """A big export written by the background worker into a private, encrypted file (exports.py) that only the
    person who asked for it may download, once; its progress and the process writing it."""

    STALE_AFTER = datetime.timedelta(minutes=5)  # a job on another host without a beat this long is dead

    class Status(models.TextChoices):
        QUEUED = "queued", "等待开始"
        RUNNING = "running", "进行中"
        DONE = "done", "已完成"
        FAILED = "failed", "失败"
        DOWNLOADED = "downloaded", "已下载"
        EXPIRED = "expired", "已过期"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="导出人", on_delete=models.CASCADE,
                             related_name="+")
    kind = models.CharField("导出内容", max_length=20)  # a key of exports.KINDS
    fmt = models.CharField("格式", max_length=4)
    params = models.TextField("查询参数", blank=True, default="")  # the export's query string
    file_name = models.CharField("文件名", max_length=255)
    language = models.CharField("语言", max_length=10, default="zh-hans")
    password = EncryptedTextField("文件密码", blank=True, default="")  # cleared once the worker took it
    status = models.CharField("状态", max_length=10, choices=Status.choices, default=Status.QUEUED)
    done = models.PositiveIntegerField("已写入行数", default=0)
    total = models.PositiveIntegerField("总行数", default=0)
    path = models.CharField("文件", max_length=500, blank=True, default="")  # under KEHU_HOME/exports

    class Meta:
        verbose_name = verbose_name_plural = "后台导出任务"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.file_name}（{self.get_status_display()}）"

    @property
    def finished(self) -> bool:
        return self.status not in (self.Status.QUEUED, self.Status.RUNNING)

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.done / self.total)) if self.total else 0


class ImportChange(models.Model):
    """What an import did to one kind of record: rows created (as id ranges) or one row updated (old values)."""

    class Action(models.TextChoices):
        CREATE = "create", _("新增")
        UPDATE = "update", _("更新")

    batch = models.ForeignKey(ImportBatch, on_delete=models.CASCADE, related_name="changes")
    model = models.CharField(_("记录类型"), max_length=30)  # app_label.ModelName
    action = models.CharField(max_length=10, choices=Action.choices)
    object_id = models.BigIntegerField(null=True, blank=True)
    id_ranges = models.JSONField(_("新增记录的编号区间"), default=list, blank=True)
    old_values_json = EncryptedTextField("更新前的值（JSON）", blank=True, default="")

    class Meta:
        verbose_name = _("导入变更")
        verbose_name_plural = _("导入变更")
        ordering = ["id"]

    @property
    def old_values(self) -> dict:
        return json.loads(self.old_values_json) if self.old_values_json else {}

    @old_values.setter
    def old_values(self, value: dict) -> None:
        self.old_values_json = json.dumps(value, ensure_ascii=False, default=str)


class ImportTemplate(models.Model):
    """A saved column mapping for a recurring file layout (淘宝, 有赞, 微店 order exports…)."""

    name = models.CharField(_("模板名称"), max_length=60, unique=True)
    sheets = models.JSONField(_("工作表映射"), default=list,
                              help_text='[{"kind": "purchases", "columns": {"表头": "字段"}}]')
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)

    class Meta:
        verbose_name = _("导入模板")
        verbose_name_plural = _("导入模板")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
