"""The customer archive (客户档案)."""

import calendar
import datetime
from collections.abc import Callable

from django.conf import settings
from django.db import models, transaction
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from kehu.lib.ages import AgeBands, next_birthday
from kehu.lib.crypto import blind_index
from kehu.lib.dates import today
from kehu.lib.db import update_by_value
from kehu.lib.fields import EncryptedDateField, EncryptedTextField
from kehu.lib.masking import mask_email, mask_mobile, mask_text


class Kind(models.TextChoices):
    PERSON = "person", _("个人")
    COMPANY = "company", _("企业")


class Gender(models.TextChoices):
    MALE = "male", _("男")
    FEMALE = "female", _("女")
    UNKNOWN = "", _("未知")


class CompanySize(models.TextChoices):
    MICRO = "1-9", _("1–9人")
    SMALL = "10-49", _("10–49人")
    MEDIUM = "50-199", _("50–199人")
    LARGE = "200-999", _("200–999人")
    ENTERPRISE = "1000+", _("1000人以上")


class Grade(models.TextChoices):
    A = "A", "A"
    B = "B", "B"
    C = "C", "C"
    D = "D", "D"


SOURCE_SUGGESTIONS = [
    "门店", "线上商城", "微信", "淘宝", "京东", "抖音", "小红书", "转介绍", "展会", "电话营销", "其他",
]
INDUSTRY_SUGGESTIONS = [
    "零售", "餐饮", "制造", "批发", "教育", "医疗健康", "互联网", "金融", "房地产", "建筑",
    "物流", "美容美发", "文化传媒", "政府与事业单位", "其他",
]


class Counter(models.Model):
    """Named sequences, e.g. for customer codes; bumped with one atomic UPDATE."""

    name = models.CharField(max_length=40, primary_key=True)
    value = models.BigIntegerField(default=0)

    @classmethod
    def take(cls, name: str, count: int = 1) -> int:
        """Reserve `count` numbers and return the first one."""
        with transaction.atomic():
            cls.objects.get_or_create(name=name)
            cls.objects.filter(name=name).update(value=F("value") + count)
            return cls.objects.get(name=name).value - count + 1


CODE_PREFIX = "KH"


def next_customer_codes(count: int = 1) -> list[str]:
    """New codes KH000001…; a number already used by a code typed or imported by hand is skipped."""
    codes: list[str] = []
    while len(codes) < count:
        need = count - len(codes)
        first = Counter.take("customer_code", need)
        batch = [f"{CODE_PREFIX}{n:06d}" for n in range(first, first + need)]
        used = set(Customer.objects.filter(code__in=batch).values_list("code", flat=True))
        codes += [code for code in batch if code not in used]
    return codes


# The age-band boundaries are a setting of the segments app, which imports this one: it registers a function
# returning the current AgeBands at start-up (the defaults until then).
_age_bands: list[Callable[[], AgeBands]] = []


def register_age_bands(fn: Callable[[], AgeBands]) -> None:
    _age_bands[:] = [fn]


def age_bands() -> AgeBands:
    return _age_bands[0]() if _age_bands else AgeBands()


def refresh_age_bands(bands: AgeBands | None = None, as_of: datetime.date | None = None) -> int:
    """Bring the stored age bands to `as_of` (default today); returns how many customers changed band.

    A band holds until the customer's next birthday (``age_band_until``), so on a new day only the customers whose
    birthday has come round since (about 1 in 365 a night, found by an index) are decrypted and written, and on the
    same day again nobody is. With `bands` (the boundaries were edited) every birthday is decrypted once and the bands
    that change are written. Customers without a birthday keep 未知.
    """
    everyone = bands is not None
    bands, as_of = bands or age_bands(), as_of or today()
    rows = Customer.objects.filter(birthday__isnull=False) if everyone else \
        Customer.objects.filter(age_band_until__lte=as_of)   # only a customer with a birthday has one
    moved: dict[str, list[int]] = {}
    passed: dict[datetime.date, list[int]] = {}   # by the next birthday after as_of, of those whose came round
    for pk, birthday, band, until in rows.values_list("pk", "birthday", "age_band", "age_band_until") \
            .iterator(chunk_size=2000):
        key = bands.key_of(birthday, as_of)
        if key != band:
            moved.setdefault(key, []).append(pk)
        if until is None or until <= as_of:
            passed.setdefault(next_birthday(birthday, as_of), []).append(pk)
    update_by_value(Customer.objects, "age_band", moved, age_band_on=as_of)
    update_by_value(Customer.objects, "age_band_until", passed, age_band_on=as_of)   # a night's share one or two
    if everyone:   # and a band left behind by a birthday removed without save()
        Customer.objects.filter(birthday__isnull=True, age_band__gt="").update(
            age_band="", age_band_on=None, age_band_until=None)
    return sum(len(pks) for pks in moved.values())


class Tag(models.Model):
    name = models.CharField(_("名称"), max_length=30, unique=True)

    class Meta:
        verbose_name = _("标签")
        verbose_name_plural = _("标签")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class CustomField(models.Model):
    """A field a shop adds to its customer archive without code; values live in Customer.extra."""

    class Type(models.TextChoices):
        TEXT = "text", _("文本")
        NUMBER = "number", _("数字")
        DATE = "date", _("日期")
        CHOICE = "choice", _("选项")

    key = models.SlugField(_("字段键"), max_length=40, unique=True)
    label = models.CharField(_("显示名称"), max_length=40)
    type = models.CharField(_("类型"), max_length=10, choices=Type.choices, default=Type.TEXT)
    choices = models.TextField(_("可选值"), blank=True, help_text=_("每行一个，仅用于“选项”类型"))
    position = models.PositiveSmallIntegerField(_("顺序"), default=0)

    class Meta:
        verbose_name = _("自定义字段")
        verbose_name_plural = _("自定义字段")
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return self.label

    @property
    def choice_list(self) -> list[str]:
        return [c.strip() for c in self.choices.splitlines() if c.strip()]


def month_day(day: datetime.date | None) -> int | None:
    """15 March → 315 (Customer.birthday_md)."""
    return day.month * 100 + day.day if day else None


def birthday_dates(start: datetime.date, days: int) -> dict[int, datetime.date]:
    """{month_day: the date that birthday falls on} for start … start + days − 1; a 29 February birthday falls
    on 28 February in other years. `Customer.objects.filter(birthday_md__in=…)` finds them, nothing decrypted."""
    dates = {}
    for offset in range(days):
        day = start + datetime.timedelta(days=offset)
        dates[month_day(day)] = day
        if (day.month, day.day) == (2, 28) and not calendar.isleap(day.year):
            dates[229] = day
    return dates


def mobile_last4_index(mobile: str) -> str:
    """The keyed hash of a mobile's last 4 digits ('' without a mobile); "last4:" keeps it apart from the full
    values' blind indexes."""
    digits = "".join(ch for ch in mobile or "" if ch.isdigit())
    return blind_index(f"last4:{digits[-4:]}") if len(digits) >= 4 else ""


class CustomerQuerySet(models.QuerySet):
    def visible_to(self, user) -> "CustomerQuerySet":
        """What a user may see: everything, or a sales rep's own customers."""
        if not user.is_authenticated:
            return self.none()
        return self if user.sees_all_customers else self.filter(owner=user)

    def by_mobile(self, mobile_e164: str) -> "CustomerQuerySet":
        return self.filter(mobile_hash=blind_index(mobile_e164))

    def by_email(self, email: str) -> "CustomerQuerySet":
        return self.filter(email_hash=blind_index(email.strip().lower()))

    def by_wechat(self, wechat: str) -> "CustomerQuerySet":
        return self.filter(wechat_hash=blind_index(wechat.strip().lower()))


class Customer(models.Model):
    """A person or company that buys. Contact fields are encrypted; *_hash columns make them searchable."""

    CONTACT_FIELDS = ("mobile", "email", "wechat", "address", "birthday")

    code = models.CharField(_("客户编号"), max_length=32, unique=True)
    name = models.CharField(_("姓名/名称"), max_length=100, db_index=True)
    kind = models.CharField(_("类型"), max_length=10, choices=Kind.choices, default=Kind.PERSON)
    gender = models.CharField(_("性别"), max_length=10, choices=Gender.choices, blank=True, default="")
    birthday = EncryptedDateField("生日", blank=True, null=True)
    # Derived from the birthday so analysis and filters never decrypt it: the age band (a key of
    # lib.ages.AgeBands, "" = 未知) computed on `age_band_on`, which holds until the next birthday `age_band_until`;
    # kept by save() and refresh_age_bands().
    age_band = models.CharField(_("年龄段"), max_length=10, blank=True, default="", editable=False)
    age_band_on = models.DateField(_("年龄段计算日期"), null=True, blank=True, editable=False)
    age_band_until = models.DateField(_("年龄段有效至"), null=True, blank=True, editable=False)
    mobile = EncryptedTextField("手机", blank=True, default="")
    mobile_hash = models.CharField(max_length=40, blank=True, default="", db_index=True, editable=False)
    # The mobile's last 4 digits as a keyed hash (mobile_last4_index): "8022" finds 138****8022 for the roles that
    # may search by contact (CustomerFilter), without a readable column of digits.
    mobile_last4_hash = models.CharField(max_length=40, blank=True, default="", db_index=True, editable=False)
    email = EncryptedTextField("电子邮箱", blank=True, default="")
    email_hash = models.CharField(max_length=40, blank=True, default="", db_index=True, editable=False)
    wechat = EncryptedTextField("微信号", blank=True, default="")
    wechat_hash = models.CharField(max_length=40, blank=True, default="", db_index=True, editable=False)
    # The birthday's month and day as MMDD (0315): finds this week's birthdays without decrypting every row.
    # It tells no more than the masked birthday every role sees (****-03-15).
    birthday_md = models.PositiveSmallIntegerField(null=True, blank=True, db_index=True, editable=False)
    province = models.CharField(_("省份"), max_length=20, blank=True, default="")
    city = models.CharField(_("城市"), max_length=20, blank=True, default="")
    district = models.CharField(_("区县"), max_length=20, blank=True, default="")
    address = EncryptedTextField("详细地址", blank=True, default="")
    registered_at = models.DateTimeField(_("注册时间"), default=timezone.now)
    source = models.CharField(_("来源渠道"), max_length=30, blank=True, default="")
    company = models.CharField(_("公司"), max_length=100, blank=True, default="")
    industry = models.CharField(_("行业"), max_length=30, blank=True, default="")
    company_size = models.CharField(_("公司规模"), max_length=10, choices=CompanySize.choices, blank=True, default="")
    grade = models.CharField(_("客户评级"), max_length=2, choices=Grade.choices, blank=True, default="")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("负责人"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="owned_customers",
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("标签"), blank=True, related_name="customers")
    notes = models.TextField(_("备注"), blank=True, default="")
    extra = models.JSONField(_("自定义字段"), default=dict, blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1, editable=False)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("最后修改人"), null=True, blank=True, editable=False,
        on_delete=models.SET_NULL, related_name="+",
    )

    objects = CustomerQuerySet.as_manager()

    class Meta:
        verbose_name = _("客户")
        verbose_name_plural = _("客户")
        # Every list filter pairs with id so key-set pages stay on the index.
        indexes = [
            models.Index(fields=["province", "city", "id"], name="customer_place_idx"),
            models.Index(fields=["city", "id"], name="customer_city_idx"),
            models.Index(fields=["industry", "id"], name="customer_industry_idx"),
            models.Index(fields=["company_size", "id"], name="customer_size_idx"),
            models.Index(fields=["grade", "id"], name="customer_grade_idx"),
            models.Index(fields=["owner", "id"], name="customer_owner_idx"),
            # a sales rep's filter menus (customers.menus): provinces and cities, industries
            models.Index(fields=["owner", "province", "city"], name="customer_owner_place_idx"),
            models.Index(fields=["owner", "industry"], name="customer_owner_industry_idx"),
            models.Index(fields=["kind", "id"], name="customer_kind_idx"),
            models.Index(fields=["registered_at", "id"], name="customer_registered_idx"),
            models.Index(fields=["company"], name="customer_company_idx"),
            models.Index(fields=["age_band", "id"], name="customer_age_band_idx"),
            # the nightly refresh_age_bands: the customers whose birthday has come round
            models.Index(fields=["age_band_until"], name="customer_age_band_until_idx"),
            models.Index(fields=["gender", "id"], name="customer_gender_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name}（{self.code}）"

    def save(self, *args, **kwargs):
        if not self.code:
            self.code = next_customer_codes()[0]
        self.refresh_search_hashes()
        self.refresh_age_band()
        fields = kwargs.get("update_fields")
        if fields is not None and "birthday" in fields:
            kwargs["update_fields"] = {*fields, "age_band", "age_band_on", "age_band_until"}
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("customers:detail", args=[self.code])

    def refresh_search_hashes(self) -> None:
        """The columns that make encrypted fields searchable (blind indexes, the birthday's month-day)."""
        self.birthday_md = month_day(self.birthday)
        self.mobile_hash = blind_index(self.mobile)
        self.mobile_last4_hash = mobile_last4_index(self.mobile)
        self.email_hash = blind_index((self.email or "").strip().lower())
        self.wechat_hash = blind_index((self.wechat or "").strip().lower())

    def refresh_age_band(self) -> None:
        """The age band of the birthday today, with the current bands (bulk_create does not call save())."""
        birthday = self.birthday
        if isinstance(birthday, str):
            birthday = datetime.date.fromisoformat(birthday) if birthday else None
        self.age_band_on = today() if birthday else None
        self.age_band = age_bands().key_of(birthday, self.age_band_on) if birthday else ""
        self.age_band_until = next_birthday(birthday, self.age_band_on) if birthday else None

    def contact_for(self, user) -> dict[str, str]:
        """Contact fields as `user` may see them: in full, or masked (138****5678)."""
        birthday = self.birthday.isoformat() if self.birthday else ""
        if user.sees_contact_details:
            return {"mobile": self.mobile_display, "email": self.email, "wechat": self.wechat,
                    "address": self.address, "birthday": birthday}
        return {
            "mobile": self.mobile_for(user),
            "email": mask_email(self.email),
            "wechat": mask_text(self.wechat),
            "address": mask_text(self.address, keep=0),
            "birthday": f"****-{birthday[5:]}" if birthday else "",
        }

    def mobile_for(self, user) -> str:
        """The mobile alone as `user` may see it (contact_for's "mobile"): reads no other contact field, so a
        list that shows only the mobile decrypts only the mobile."""
        return self.mobile_display if user.sees_contact_details else mask_mobile(self.mobile)

    @property
    def mobile_display(self) -> str:
        """+8613812345678 → 138 1234 5678 (the way Chinese users read a mobile)."""
        m = self.mobile
        if m.startswith("+86") and len(m) == 14:
            return f"{m[3:6]} {m[6:10]} {m[10:]}"
        return m

    @property
    def place(self) -> str:
        return " ".join(p for p in (self.province, self.city, self.district) if p)


class MergeRecord(models.Model):
    """Two customer records found to be one person: what was merged into what, by whom, and what moved."""

    kept = models.ForeignKey(Customer, verbose_name=_("保留的客户"), on_delete=models.CASCADE, related_name="merges")
    merged_code = models.CharField(_("被合并客户编号"), max_length=32)
    merged_name = models.CharField(_("被合并客户姓名"), max_length=100)
    snapshot = EncryptedTextField("被合并客户档案（JSON）")
    moved = models.JSONField(_("转移的记录数"), default=dict)
    merged_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    merged_at = models.DateTimeField(_("合并时间"), default=timezone.now)

    class Meta:
        verbose_name = _("合并记录")
        verbose_name_plural = _("合并记录")
        ordering = ["-merged_at"]


class HealthScore(models.Model):
    """The data-health score (数据质量分) of one day, kept so the health page can show it over time."""

    day = models.DateField(_("日期"), unique=True)
    score = models.PositiveSmallIntegerField(_("得分"))
    customers = models.PositiveIntegerField(_("客户数"), default=0)
    findings = models.JSONField(_("问题数"), default=dict)
    recorded_at = models.DateTimeField(_("记录时间"), default=timezone.now)

    class Meta:
        verbose_name = _("数据质量分")
        verbose_name_plural = _("数据质量分")
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} {self.score}"


class SavedView(models.Model):
    """A user's own way of looking at the customer list (我的视图): columns, filters and sort, kept as the list's
    query string (without a page cursor), so opening it is opening that URL."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name="用户", on_delete=models.CASCADE,
                             related_name="saved_views")
    name = models.CharField("名称", max_length=40)
    query = models.TextField("列、筛选和排序", blank=True, default="")
    created_at = models.DateTimeField("创建时间", auto_now_add=True)

    class Meta:
        verbose_name = "客户列表视图"
        verbose_name_plural = "客户列表视图"
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["user", "name"], name="customers_saved_view_name_uniq")]

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("customers:list") + (f"?{self.query}" if self.query else "")
