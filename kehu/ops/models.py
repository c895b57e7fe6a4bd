import datetime
import socket

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kehu.lib.crypto import key_fingerprint
from kehu.lib.processes import process_exists


class StoreKey(models.Model):
    """The fingerprint of the data key this store's contact fields are encrypted with (one row).

    It lives inside the database, so every backup, encrypted or `--plain`, carries it; a restore under
    another key is refused instead of leaving a store whose contact fields cannot be decrypted.
    """

    fingerprint = models.CharField(_("数据密钥指纹"), max_length=16)
    recorded_at = models.DateTimeField(_("记录时间"), default=timezone.now)

    class Meta:
        verbose_name = verbose_name_plural = _("数据密钥指纹")

    @classmethod
    def recorded(cls) -> str:
        """The fingerprint on record, recording the current key's the first time."""
        row = cls.objects.order_by("id").first() or cls.objects.create(fingerprint=key_fingerprint())
        return row.fingerprint


class CacheEntry(models.Model):
    """The table of the shared cache (`kehu/lib/cache.py`, Django's database cache layout), made by a migration so
    every store has it and every app process of the store reads the same entries."""

    cache_key = models.CharField(max_length=255, primary_key=True)
    value = models.TextField()
    expires = models.DateTimeField(db_index=True)

    class Meta:
        db_table = "kehu_cache"
        verbose_name = verbose_name_plural = _("共享缓存")


class ServerPresenceQuerySet(models.QuerySet):
    def alive(self) -> list["ServerPresence"]:
        """Servers that beat recently and, when on this host, whose process still exists."""
        fresh = self.filter(heartbeat_at__gte=timezone.now() - ServerPresence.STALE_AFTER)
        return [s for s in fresh if s.host != socket.gethostname() or process_exists(s.pid)]


class ServerPresence(models.Model):
    """One running `kehu serve` or `kehu worker` (address "kehu worker") of this store, on any host: written at start,
    refreshed by a heartbeat, removed at a clean stop. `kehu restore` refuses while any is alive."""

    STALE_AFTER = datetime.timedelta(seconds=45)
    HEARTBEAT_SECONDS = 15

    host = models.CharField(_("主机"), max_length=255)
    pid = models.PositiveIntegerField(_("进程号"))
    address = models.CharField(_("地址"), max_length=255)
    started_at = models.DateTimeField(_("启动时间"), default=timezone.now)
    heartbeat_at = models.DateTimeField(_("最近心跳"), default=timezone.now, db_index=True)

    objects = ServerPresenceQuerySet.as_manager()

    class Meta:
        verbose_name = verbose_name_plural = _("运行中的服务")

    def __str__(self) -> str:
        return f"{self.host} 进程 {self.pid}（{self.address}）"


class NightlyRun(models.Model):
    """The nightly jobs of one day (classification with metrics rebuilt, follow-ups, backup, health; see
    ``nightly.py``). Its day is unique: the first worker to create the row runs that day's jobs, so two workers on two
    hosts run them once."""

    STALE_AFTER = datetime.timedelta(minutes=30)  # a run on another host silent this long (between steps) is dead

    class Status(models.TextChoices):
        QUEUED = "queued", _("等待开始")
        RUNNING = "running", _("进行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    day = models.DateField(_("日期"), unique=True)
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    # [{"step": "segment", "ok": true, "summary": "…", "seconds": 1.2}, …] in the order run
    steps = models.JSONField(_("各步骤结果"), default=list, blank=True)
    error = models.TextField(_("错误"), blank=True, default="")
    host = models.CharField(_("运行主机"), max_length=255, blank=True, default="")
    pid = models.PositiveIntegerField(_("运行进程号"), null=True, blank=True)
    created_at = models.DateTimeField(_("排定时间"), default=timezone.now)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("最近进度时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("结束时间"), null=True, blank=True)

    class Meta:
        verbose_name = verbose_name_plural = _("每晚自动任务")
        ordering = ["-day"]

    def __str__(self) -> str:
        return f"{self.day}（{self.get_status_display()}）"
