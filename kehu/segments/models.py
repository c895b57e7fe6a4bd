"""Segmentation (客户分层): per-customer metrics kept current, the classes of every customer, dated
snapshots for movement, and the thresholds an admin can edit.

What is stored where:

* :class:`CustomerMetrics` — one row per customer with at least one counted (not refunded) order:
  first/last order time, F, M, Σ squared gaps (for the purchase rhythm), the number of categories,
  categorised spend and the top category (for category loyalty), and the distinct purchase days and
  first-day spend (for the churn and value models).
  Kept current by ``signals.py`` on every order and order-line change; ``pipeline.rebuild_metrics()``
  recomputes it from the orders and gives the same rows.
* :class:`CustomerCategorySpend` — spend per (customer, category) from order lines of counted orders;
  gives the distinct-category count and category loyalty.
* :class:`CustomerSegment` — the latest classes of every customer (one row each), with the numbers they
  were computed from; list filters use its indexed class columns. Also the churn and value forecast
  of each buying customer (null when the models could not be fitted): P(alive), expected purchases in
  30/90/365 days, expected spend per purchase, the 12-month value (CLV) and the value at risk =
  (1 − P(alive)) × the 12-month value if still active (see ``pipeline.value_forecast``); the risk
  list (``pipeline.risk_list``) reads its index on value at risk.
* :class:`SegmentSnapshot` — compact rows (small-integer class codes) of a customer's classes from a
  classification date on, written when they changed: for migration matrices, "who moved" lists and a customer's
  class history.
* :class:`SegmentRun` — one row per classification date: the thresholds and the reference values
  (mean/median R, F, M) that the explanations quote, the class counts, and ``value_model``: the
  fitted purchase-model (MBG/NBD or Pareto/NBD, named in ``model``) and Gamma-Gamma parameters with
  their log-likelihood, or why they were not fitted, and the holdout check that chose the model.
* :class:`RunLease` — who runs the classification now, so two runs never overlap (``lease.py``).
* :class:`SegmentJob` — a classification started from a page (or by the nightly jobs) and run by ``kehu worker``:
  its stage and outcome, so every server process shows the same progress (``runs.py``).
* :class:`SegmentSettings` — one row: the :class:`~kehu.segments.engine.classify.Thresholds` as JSON, and the
  age-band boundaries (:class:`~kehu.lib.ages.AgeBands`) that ``Customer.age_band`` is derived with.
"""

from __future__ import annotations

import datetime
import math
from decimal import Decimal

from django.conf import settings
from django.core.cache import cache
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kehu.customers.models import Customer
from kehu.lib import money
from kehu.lib.ages import AgeBands
from kehu.lib.jobs import BackgroundJob
from kehu.sales.models import Category

from .engine.classify import (
    ABC_CLASSES,
    FREQUENCY_TIERS,
    LIFECYCLE_STAGES,
    RF_SEGMENT_NAMES,
    RFM_CLASSES,
    VALUE_TIERS,
    References,
    Thresholds,
)
from .engine.explain import explain

# Class names by column; a snapshot stores position + 1 (0 = no class, e.g. a customer who never bought).
CLASS_NAMES: dict[str, tuple[str, ...]] = {
    "rfm_class": RFM_CLASSES,
    "rf_segment": RF_SEGMENT_NAMES,
    "abc_class": ABC_CLASSES,
    "frequency_tier": FREQUENCY_TIERS,
    "value_tier": VALUE_TIERS,
    "lifecycle": LIFECYCLE_STAGES,
}
CLASS_LABELS = {
    "rfm_class": _("RFM分层"), "rf_segment": _("RF价值矩阵"), "abc_class": _("ABC分类"),
    "frequency_tier": _("频次等级"), "value_tier": _("价值等级"), "lifecycle": _("生命周期"),
}


def class_code(column: str, name: str) -> int:
    """Snapshot code of a class name (0 for none); ValueError for a name that is not a class."""
    if not name:
        return 0
    return CLASS_NAMES[column].index(name) + 1


def class_name(column: str, code: int) -> str:
    return CLASS_NAMES[column][code - 1] if code else ""


class CustomerMetrics(models.Model):
    """F, M and the purchase rhythm of one customer, kept current order by order (客户指标)."""

    customer = models.OneToOneField(Customer, verbose_name=_("客户"), primary_key=True, on_delete=models.CASCADE,
                                    related_name="metrics")
    first_order_at = models.DateTimeField(_("首次消费"), null=True, blank=True)
    last_order_at = models.DateTimeField(_("最近消费"), null=True, blank=True)
    frequency = models.PositiveIntegerField(_("订单数"), default=0)
    monetary = models.DecimalField(_("消费金额（元）"), max_digits=14, decimal_places=2, default=Decimal("0"))
    # Σ (t[i] − t[i−1])² over the orders sorted by time, t in whole seconds: with first/last and F this
    # gives the mean gap and its spread, and one order's change only touches its two neighbours.
    interval_sq_sum = models.BigIntegerField(_("消费间隔平方和（秒²）"), default=0)
    categories = models.PositiveIntegerField(_("购买品类数"), default=0)
    # For the churn and value models (repeat purchases are counted on distinct local days): the number
    # of distinct purchase days, and what was spent on the first of them (the first purchase, which
    # the Gamma-Gamma spend model leaves out).
    # The category summary that category loyalty needs, so classifying reads one row per customer:
    # the spend over all categorised lines, and the category with the most spend (ties: smallest id).
    category_spend = models.DecimalField(_("品类消费合计（元）"), max_digits=14, decimal_places=2,
                                         default=Decimal("0"))
    top_category = models.ForeignKey(Category, verbose_name=_("消费最多的品类"), null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+", db_index=False)
    top_category_spend = models.DecimalField(_("最多品类消费（元）"), max_digits=14, decimal_places=2,
                                             default=Decimal("0"))
    purchase_days = models.PositiveIntegerField(_("消费天数"), default=0)
    first_day_spend = models.DecimalField(_("首日消费金额（元）"), max_digits=14, decimal_places=2,
                                          default=Decimal("0"))
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("客户指标")
        verbose_name_plural = _("客户指标")
        # The customer list sorts by these (customers.columns), key-set paged on (value, customer): one index
        # each serves both directions.
        indexes = [
            models.Index(fields=["frequency", "customer"], name="metrics_frequency_idx"),
            models.Index(fields=["monetary", "customer"], name="metrics_monetary_idx"),
            models.Index(fields=["last_order_at", "customer"], name="metrics_last_order_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: F={self.frequency} M={self.monetary}"

    @property
    def avg_order_value(self) -> Decimal | None:
        if not self.frequency:
            return None
        return (self.monetary / self.frequency).quantize(Decimal("0.01"))

    def recency_days(self, as_of: datetime.date) -> int | None:

        return (as_of - timezone.localdate(self.last_order_at)).days if self.last_order_at else None

    def tenure_days(self, as_of: datetime.date) -> int | None:

        return (as_of - timezone.localdate(self.first_order_at)).days if self.first_order_at else None

    @property
    def mean_interval_days(self) -> float | None:
        if self.frequency < 2:
            return None
        return self._span_seconds() / (self.frequency - 1) / 86400

    @property
    def std_interval_days(self) -> float | None:
        """Sample standard deviation of the gaps between orders, in days."""
        n = self.frequency - 1
        if n < 2:
            return None
        span = self._span_seconds()
        return math.sqrt(max((n * self.interval_sq_sum - span * span) / (n * (n - 1)), 0)) / 86400

    def _span_seconds(self) -> int:
        from .signals import epoch_seconds

        return epoch_seconds(self.last_order_at) - epoch_seconds(self.first_order_at)


class CustomerCategorySpend(models.Model):
    """What one customer spent in one category, from the lines of counted orders."""

    # no index of its own: the unique (customer, category) index serves the customer's lookups
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="category_spend", db_index=False)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="+")
    spend = models.DecimalField(_("金额（元）"), max_digits=14, decimal_places=2, default=Decimal("0"))
    lines = models.PositiveIntegerField(_("明细数"), default=0)

    class Meta:
        verbose_name = _("客户品类消费")
        verbose_name_plural = _("客户品类消费")
        constraints = [
            models.UniqueConstraint(fields=["customer", "category"], name="segments_customer_category_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}/{self.category_id}: {money.fmt(self.spend)}"


class CustomerSegment(models.Model):
    """The latest classes of one customer, and the numbers they came from (as of :attr:`as_of`).

    A row holds nothing that changes by itself from one day to the next: recency and tenure are derived from the
    first and last purchase days, and the churn and value forecast is that of the last fit (or of the customer's
    last change since). So a new day's run writes only the customers whose classes or figures changed; it finds
    them by `fingerprint`, a hash of what the run computed (null after an order changed the row since).
    """

    customer = models.OneToOneField(Customer, verbose_name=_("客户"), primary_key=True, on_delete=models.CASCADE,
                                    related_name="segment")
    changed_on = models.DateField(_("分层变化日期"))
    first_order_day = models.DateField(_("首次消费日"), null=True, blank=True)
    last_order_day = models.DateField(_("最近消费日"), null=True, blank=True)
    fingerprint = models.BigIntegerField(null=True, blank=True, editable=False)
    frequency = models.PositiveIntegerField(_("订单数"), default=0)
    monetary = models.DecimalField(_("消费金额（元）"), max_digits=14, decimal_places=2, default=Decimal("0"))
    avg_order_value = models.DecimalField(_("客单价（元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    mean_interval_days = models.FloatField(_("平均消费间隔（天）"), null=True, blank=True)
    std_interval_days = models.FloatField(_("消费间隔标准差（天）"), null=True, blank=True)
    spend_recent = models.DecimalField(_("近期消费（元）"), max_digits=14, decimal_places=2, default=Decimal("0"))
    spend_previous = models.DecimalField(_("前期消费（元）"), max_digits=14, decimal_places=2, default=Decimal("0"))
    trend = models.CharField(_("消费趋势"), max_length=4, blank=True, default="")
    r_score = models.PositiveSmallIntegerField(_("R 评分"), null=True, blank=True)
    f_score = models.PositiveSmallIntegerField(_("F 评分"), null=True, blank=True)
    m_score = models.PositiveSmallIntegerField(_("M 评分"), null=True, blank=True)
    r_high = models.BooleanField(_("R 高"), null=True, blank=True)
    f_high = models.BooleanField(_("F 高"), null=True, blank=True)
    m_high = models.BooleanField(_("M 高"), null=True, blank=True)
    rfm_class = models.CharField(_("RFM分层"), max_length=10, blank=True, default="")
    rf_segment = models.CharField(_("RF价值矩阵"), max_length=10, blank=True, default="")
    abc_class = models.CharField(_("ABC分类"), max_length=1, blank=True, default="")
    frequency_tier = models.CharField(_("频次等级"), max_length=4, blank=True, default="")
    value_tier = models.CharField(_("价值等级"), max_length=4, blank=True, default="")
    lifecycle = models.CharField(_("生命周期"), max_length=6, blank=True, default="")
    overdue = models.BooleanField(_("逾期未购"), default=False)
    category_loyalty = models.CharField(_("品类偏好"), max_length=60, blank=True, default="")
    # Churn and value forecast (the chosen purchase model + Gamma-Gamma, see SegmentRun.value_model); null when
    # not fitted.
    p_alive = models.FloatField(_("活跃概率"), null=True, blank=True)
    expected_purchases_30d = models.FloatField(_("预计30天消费天数"), null=True, blank=True)
    expected_purchases_90d = models.FloatField(_("预计90天消费天数"), null=True, blank=True)
    expected_purchases_365d = models.FloatField(_("预计365天消费天数"), null=True, blank=True)
    expected_spend = models.DecimalField(_("预计客单价（元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    clv = models.DecimalField(_("未来12个月价值（元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    value_at_risk = models.DecimalField(_("流失风险价值（元）"), max_digits=14, decimal_places=2, null=True, blank=True)

    class Meta:
        verbose_name = _("客户分层")
        verbose_name_plural = _("客户分层")
        indexes = [
            models.Index(fields=["rfm_class", "customer"], name="segment_rfm_idx"),
            models.Index(fields=["rf_segment", "customer"], name="segment_rf_idx"),
            models.Index(fields=["abc_class", "customer"], name="segment_abc_idx"),
            models.Index(fields=["frequency_tier", "customer"], name="segment_freq_tier_idx"),
            models.Index(fields=["value_tier", "customer"], name="segment_value_tier_idx"),
            models.Index(fields=["lifecycle", "customer"], name="segment_lifecycle_idx"),
            models.Index(fields=["category_loyalty", "customer"], name="segment_category_idx"),
            models.Index(fields=["overdue", "customer"], name="segment_overdue_idx"),
            models.Index(fields=["trend", "customer"], name="segment_trend_idx"),
            # the lists' sorts (key-set on (value, customer), both directions; one index serves both: a class row's
            # every index is written again when an order changes it, on PostgreSQL)
            models.Index(fields=["avg_order_value", "customer"], name="segment_aov_sort_idx"),
            models.Index(fields=["p_alive", "customer"], name="segment_p_alive_sort_idx"),
            models.Index(fields=["clv", "customer"], name="segment_clv_sort_idx"),
            models.Index(fields=["value_at_risk", "customer"], name="segment_risk_sort_idx"),
            # the rows an order changed since the last run (a few): a same-day re-run finds at once whether any
            models.Index(fields=["customer"], condition=models.Q(fingerprint__isnull=True),
                         name="segment_changed_since_run_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id}: {self.rfm_class or self.lifecycle}"

    @property
    def run(self) -> SegmentRun | None:
        """The run whose thresholds, references and cut-offs these classes were compared with: the latest one
        on or before the day they last changed or the latest run's day, whichever is later."""
        if not hasattr(self, "_run"):
            latest = SegmentRun.objects.order_by("-finished_at").first()
            if latest is None or latest.as_of >= self.changed_on:   # as_of is unique: the latest is that run
                self._run = latest
            else:   # an order changed the classes after the latest run
                self._run = SegmentRun.objects.filter(as_of__lte=self.changed_on).order_by("-as_of").first()
        return self._run

    @property
    def as_of(self) -> datetime.date:
        """The day these classes describe (分析日期): the latest run's, which found them unchanged, or the day an
        order changed them since."""
        run = self.run
        return max(self.changed_on, run.as_of) if run else self.changed_on

    @property
    def recency_days(self) -> int | None:
        """Days from the last purchase day to :attr:`as_of` (null without a purchase)."""
        return None if self.last_order_day is None else (self.as_of - self.last_order_day).days

    @property
    def days_since_last_order(self) -> int | None:
        """Days from the last purchase day to today (for lists: no query for the run)."""
        return None if self.last_order_day is None else (timezone.localdate() - self.last_order_day).days

    @property
    def tenure_days(self) -> int | None:
        """Days from the first purchase day to :attr:`as_of`."""
        return None if self.first_order_day is None else (self.as_of - self.first_order_day).days

    @property
    def explanation(self) -> str:
        """Why this customer is in its classes, in Chinese (分层原因); one query for the run's references."""
        if not hasattr(self, "_explanation"):
            run = self.run
            if run is None:
                self._explanation = ""
            else:
                row = {f.name: getattr(self, f.name) for f in self._meta.concrete_fields}
                row |= {"monetary": float(self.monetary), "recency_days": self.recency_days,
                        "tenure_days": self.tenure_days}
                refs = run.reference_values.later((self.as_of - run.as_of).days)
                self._explanation = explain(row, refs, run.threshold_values)
        return self._explanation


class SnapshotQuerySet(models.QuerySet):
    def on(self, day: datetime.date) -> SnapshotQuerySet:
        """Each customer's line as it stood on `day`: its latest line on or before that day."""
        latest = SegmentSnapshot.objects.filter(customer_id=models.OuterRef("customer_id"), as_of__lte=day) \
            .order_by("-as_of").values("as_of")[:1]
        return self.filter(as_of__lte=day, as_of=models.Subquery(latest))


class SegmentSnapshot(models.Model):
    """The classes of one customer from one date on, compact: codes are positions in CLASS_NAMES + 1.

    A run writes a line for the customers whose class row it wrote (their classes or figures changed since the
    last run), not for everyone: a customer's classes on a day are those of its latest line on or before that day
    (:meth:`SnapshotQuerySet.on`). The first run, and a run for a day before the latest snapshot, write everyone's.
    """

    pk = models.CompositePrimaryKey("as_of", "customer")
    as_of = models.DateField(_("快照日期"))
    # No foreign-key constraint in the database: it checks every line written, one by one (PostgreSQL: a trigger per
    # row at the commit, some 10 s for the 1,000,000 lines of a first build). Django's CASCADE still takes a deleted
    # customer's lines along, and a line is written in the transaction that writes the customer's class row, whose
    # constraint stays.
    customer = models.ForeignKey(Customer, on_delete=models.CASCADE, related_name="+", db_index=False,
                                 db_constraint=False)
    r_score = models.PositiveSmallIntegerField(null=True)
    f_score = models.PositiveSmallIntegerField(null=True)
    m_score = models.PositiveSmallIntegerField(null=True)
    rfm_class = models.PositiveSmallIntegerField(default=0)
    rf_segment = models.PositiveSmallIntegerField(default=0)
    abc_class = models.PositiveSmallIntegerField(default=0)
    frequency_tier = models.PositiveSmallIntegerField(default=0)
    value_tier = models.PositiveSmallIntegerField(default=0)
    lifecycle = models.PositiveSmallIntegerField(default=0)
    overdue = models.BooleanField(default=False)

    objects = SnapshotQuerySet.as_manager()

    class Meta:
        verbose_name = _("分层快照")
        verbose_name_plural = _("分层快照")
        indexes = [models.Index(fields=["customer", "as_of"], name="snapshot_customer_idx")]

    def __str__(self) -> str:
        return f"{self.as_of} {self.customer_id}"

    def class_name(self, column: str) -> str:
        return class_name(column, getattr(self, column))


class SegmentRun(models.Model):
    """One classification date: thresholds used, references quoted by explanations, class counts."""

    as_of = models.DateField(_("分析日期"), unique=True)
    finished_at = models.DateTimeField(_("完成时间"), auto_now=True)
    thresholds = models.JSONField(_("阈值"), default=dict)
    references = models.JSONField(_("参照值"), default=dict)
    counts = models.JSONField(_("各分层人数"), default=dict)
    customers = models.PositiveIntegerField(_("客户数"), default=0)
    seconds = models.FloatField(_("用时（秒）"), default=0)
    # The churn and value models of this run: fitted parameters and log-likelihood per model, or why
    # they could not be fitted (see pipeline.value_model_summary for the shape):
    # {"purchases": {"model": "MBG/NBD", "fitted": true, "params": {...}, "log_likelihood": …} or
    #  {"model": …, "fitted": false, "code": …, "reason": "客户少于 50 位…", "reason_en": …},
    #  "spend": {… Gamma-Gamma …}, "time_unit": "days", "months": 12, "monthly_discount": 0.01, …,
    #  "model_check": {… engine.model_check.ModelCheck.to_dict() …}}. Runs before MBG/NBD hold "BG/NBD";
    #  engine.clv.purchase_fit(model, params, time_unit) rebuilds a fit from either.
    value_model = models.JSONField(_("预测模型"), default=dict, blank=True)
    # Where the ranked classes begin (quintile scores, ABC, share tiers), so one customer can be placed
    # later without ranking everyone again: see engine.classify.cutoffs and segments.upkeep.
    cutoffs = models.JSONField(_("分位点"), default=dict, blank=True)

    class Meta:
        verbose_name = _("分层计算")
        verbose_name_plural = _("分层计算")
        ordering = ["-as_of"]

    def __str__(self) -> str:
        return f"{self.as_of}"

    @property
    def reference_values(self) -> References:
        return References.from_dict(self.references)

    @property
    def threshold_values(self) -> Thresholds:
        return Thresholds.from_dict(self.thresholds)


class RunLease(models.Model):
    """Who runs a whole-store job now (the classification): one row per job, held by one process at a
    time across processes and servers until it finishes or its lease runs out, so a crashed run cannot
    hold it for ever (see ``lease.py``). An empty owner means nobody."""

    name = models.CharField(_("任务"), max_length=50, primary_key=True)
    owner = models.CharField(_("持有者"), max_length=100, blank=True)
    host = models.CharField(_("主机"), max_length=255, blank=True)
    pid = models.PositiveIntegerField(_("进程号"), default=0)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    expires_at = models.DateTimeField(_("到期时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("运行租约")
        verbose_name_plural = _("运行租约")

    def __str__(self) -> str:
        return f"{self.name}: {self.owner or '-'}"


class SegmentJob(BackgroundJob):
    """A classification handed to the background worker (`kehu worker`): who started it and why, the stage it is
    at, its outcome and the process running it, in the database so every server process shows the same state."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("等待开始")
        RUNNING = "running", _("进行中")
        DONE = "done", _("已完成")
        FAILED = "failed", _("失败")

    class Reason(models.TextChoices):
        RECOMPUTE = "recompute", _("重新计算分层")
        THRESHOLDS = "thresholds", _("保存并重新计算")
        NIGHTLY = "nightly", _("每晚自动任务")

    reason = models.CharField(_("原因"), max_length=12, choices=Reason.choices, default=Reason.RECOMPUTE)
    full = models.BooleanField(_("从全部订单重新计算指标"), default=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发起人"), null=True, blank=True,
                             on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(_("状态"), max_length=10, choices=Status.choices, default=Status.QUEUED)
    stage = models.CharField(_("当前步骤"), max_length=50, blank=True, default="")
    steps_done = models.PositiveSmallIntegerField(_("已完成步骤"), default=0)
    run = models.ForeignKey(SegmentRun, verbose_name=_("分层计算"), null=True, blank=True,
                            on_delete=models.SET_NULL, related_name="+")
    customers = models.PositiveIntegerField(_("客户数"), default=0)
    # nothing had changed since the day's run, which stands (pipeline.unchanged_run)
    unchanged = models.BooleanField(_("沿用当天结果"), default=False)

    class Meta:
        verbose_name = verbose_name_plural = _("后台分层任务")
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"], name="segmentjob_status")]

    def __str__(self) -> str:
        return f"{self.get_reason_display()}（{self.get_status_display()}）"

    @property
    def steps_total(self) -> int:
        """Stages of the run (see pipeline.refresh): 7 with the metrics rebuilt from all orders, else 5."""
        return 7 if self.full else 5

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.steps_done / self.steps_total))

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)


class SegmentSettings(models.Model):
    """The thresholds, one row (pk = 1), as JSON so an admin page can edit them without a migration."""

    thresholds = models.JSONField(_("阈值"), default=dict, blank=True)
    age_bands = models.JSONField(_("年龄段分界"), default=list, blank=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")

    class Meta:
        verbose_name = _("分层设置")
        verbose_name_plural = _("分层设置")

    def __str__(self) -> str:
        return "分层设置"

    @classmethod
    def load(cls) -> Thresholds:
        """The stored thresholds over the defaults (the defaults if nothing was saved)."""
        row = cls.objects.filter(pk=1).first()
        return Thresholds.from_dict(row.thresholds if row else {})

    @classmethod
    def store(cls, thresholds: Thresholds, user=None) -> None:
        cls.objects.update_or_create(pk=1, defaults={"thresholds": thresholds.to_dict(), "updated_by": user})

    AGE_BANDS_CACHE = "kehu:segments:age_bands"

    @classmethod
    def load_age_bands(cls) -> AgeBands:
        """The age bands (the defaults if never edited); cached a minute per process, so every customer saved in
        an import does not read the settings."""
        found = cache.get(cls.AGE_BANDS_CACHE)
        if found is None:
            found = list(cls.objects.filter(pk=1).values_list("age_bands", flat=True).first() or [])
            cache.set(cls.AGE_BANDS_CACHE, found, 60)
        return AgeBands.from_list(found)

    @classmethod
    def store_age_bands(cls, bands: AgeBands, user=None) -> int:
        """Save new boundaries and recompute every customer's band with them; returns how many changed."""
        from kehu.customers.models import refresh_age_bands

        cls.objects.update_or_create(pk=1, defaults={"age_bands": list(bands.boundaries), "updated_by": user})
        cache.delete(cls.AGE_BANDS_CACHE)
        return refresh_age_bands(bands)


def _validate_rules(value) -> None:
    from django.core.exceptions import ValidationError

    from .rules import validate

    errors = validate(value) if isinstance(value, dict) else ["规则必须是一个条件组"]
    if errors:
        raise ValidationError(errors)


class RuleSegment(models.Model):
    """A saved custom rule segment (规则分群): rules as JSON (see ``rules.py``), evaluated live.

    ``segment.describe()`` gives the rules in words; ``segment.members(qs)`` the customers of ``qs`` that
    match them (a sales rep passes their visible customers); ``/customers/?rule=<id>`` lists them.
    """

    name = models.CharField(_("名称"), max_length=60, unique=True)
    rules = models.JSONField(_("规则"), validators=[_validate_rules])
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+", verbose_name=_("创建人"))
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    class Meta:
        verbose_name = _("规则分群")
        verbose_name_plural = _("规则分群")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def describe(self, user_names: dict[int, str] | None = None) -> str:
        """The rules in words, e.g. "广东省 且 订单数 ≥ 3 笔" (owners by name unless given)."""
        from .rules import describe, validate

        if validate(self.rules):
            return str(_("（规则无效）"))
        if user_names is None:
            user_names = self._owner_names()
        return describe(self.rules, user_names)

    def _owner_names(self) -> dict[int, str]:
        from django.contrib.auth import get_user_model

        ids: set[int] = set()

        def walk(node: dict) -> None:
            for item in node.get("items", []):
                walk(item)
            if node.get("field") == "owner":
                ids.update(int(v) for v in node.get("values", []) if str(v).isdigit())

        walk(self.rules)
        if not ids:
            return {}
        return {u.pk: u.display_name for u in get_user_model().objects.filter(pk__in=ids)}

    def condition(self) -> models.Q:
        """The rules as one Q over Customer (raises rules.RuleError if they became invalid)."""
        from .rules import condition

        return condition(self.rules)

    def members(self, base_qs):
        """The customers of ``base_qs`` that match the rules, each once (a tag condition joins the tags)."""
        return base_qs.filter(pk__in=Customer.objects.filter(self.condition()).values("pk"))

    @classmethod
    def lookup(cls, pk: int) -> tuple[str, models.Q] | None:
        """(name, condition) for the customer filter's ``?rule=<id>``; None for an unknown id or broken rules."""
        from .rules import RuleError

        segment = cls.objects.filter(pk=pk).first()
        if segment is None:
            return None
        try:
            return segment.name, segment.condition()
        except (RuleError, KeyError, TypeError, AttributeError):
            return None
