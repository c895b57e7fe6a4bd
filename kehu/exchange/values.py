"""Cell values as people type them, turned into Python values.

Each parser takes what a reader gives (str, int, float, date, datetime) and returns a clean value, or
raises ValueError with a Chinese message fit to show in an error report. Validation proper (dates not
in the future, amounts not negative, …) stays with the forms; these only read.
"""

import datetime
import functools
import re
import unicodedata
from decimal import Decimal, InvalidOperation

from django.db.models import Choices
from django.utils import timezone
from django.utils.translation import gettext_noop

from kehu.customers.models import CompanySize, Gender, Kind
from kehu.engagement.models import CommunicationMethod, MarketingChannel
from kehu.lib.cells import restore
from kehu.sales.models import OrderStatus, PaymentMethod, SalesChannel

from . import words
from .headers import translated

YES, NO = gettext_noop("是"), gettext_noop("否")  # what exports and templates write for a yes/no field

EXCEL_EPOCH = datetime.datetime(1899, 12, 30)


class BadValue(ValueError):
    """A cell that cannot be read as the type its column needs (message in Chinese)."""


class LostDigits(BadValue):
    """A cell a spreadsheet program already cut (a mobile saved as 1.38123E+10): the row is refused."""


def cell_text(value: object) -> str:
    """Any cell as text: None → '', 1200.0 → '1200', a date → '2024-01-05'."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, float):
        if value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, datetime.datetime):
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.isoformat(sep=" ", timespec="seconds")
    if isinstance(value, datetime.date):
        return value.isoformat()
    return restore(str(value).strip())  # a cell our own export escaped ("'+1 415…") reads as it was


_DATE = re.compile(
    r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
    r"(?:[\sT]+(\d{1,2})[:：时](\d{1,2})(?:[:：分](\d{1,2}(?:\.\d+)?))?秒?)?"
    r"\s*(Z|UTC|[+-]\d{2}:?\d{2})?$"  # Shopify and WooCommerce write the offset: 2024-01-05 14:30:12 +0800
)
_COMPACT = re.compile(r"^(\d{4})(\d{2})(\d{2})$")
# What a spreadsheet program writes for a date cell shown in its default format when saved as CSV: LibreOffice
# and Excel in English write month first (1/5/2024 13:45, 1/5/24 13:45); a first number above 12 is a day (13/5/24).
_MONTH_FIRST = re.compile(r"^(\d{1,2})/(\d{1,2})/(\d{2}|\d{4})(?:\s+(\d{1,2}):(\d{2})(?::(\d{2}))?\s*([AP]M)?)?$",
                          re.IGNORECASE)
SECOND = datetime.timedelta(seconds=1)
MINUTE = datetime.timedelta(minutes=1)
DAY = datetime.timedelta(days=1)


def _serial(number: float) -> datetime.datetime:
    if not 1 <= number < 2958466:
        raise BadValue(f"“{cell_text(number)}”不是有效的日期")
    return EXCEL_EPOCH + datetime.timedelta(days=number)


def parse_datetime_naive(value: object) -> datetime.datetime:
    """2024/1/5, 2024-01-05 14:30, 2024年1月5日, 2024.1.5, 20240105, an Excel serial (45296) or a date cell."""
    if isinstance(value, datetime.datetime):
        return value.replace(tzinfo=None) if timezone.is_naive(value) else timezone.localtime(value).replace(
            tzinfo=None)
    if isinstance(value, datetime.date):
        return datetime.datetime.combine(value, datetime.time(0))
    if isinstance(value, int | float) and not isinstance(value, bool):
        return _serial(float(value))
    text = cell_text(value).replace("／", "/").replace("－", "-")
    if not text:
        raise BadValue("日期为空")
    if m := _DATE.match(text):
        y, mo, d, hh, mi, ss, offset = m.groups()
        try:
            seconds = float(ss or 0)
            moment = datetime.datetime(int(y), int(mo), int(d), int(hh or 0), int(mi or 0), int(seconds))
        except ValueError:
            raise BadValue(f"“{text}”不是有效的日期") from None
        if offset:  # a moment elsewhere: the same moment on the shop's clock
            zone = datetime.UTC if offset in ("Z", "UTC") else datetime.datetime.strptime(
                offset.replace(":", ""), "%z").tzinfo
            return timezone.localtime(moment.replace(tzinfo=zone)).replace(tzinfo=None)
        return moment
    if m := _COMPACT.match(text):
        try:
            return datetime.datetime(*(int(g) for g in m.groups()))
        except ValueError:
            raise BadValue(f"“{text}”不是有效的日期") from None
    if m := _MONTH_FIRST.match(text):
        return _month_first(text, m)
    if re.fullmatch(r"\d{4,5}(\.\d+)?", text):
        return _serial(float(text))
    raise BadValue(f"“{text}”不是可识别的日期（可写作 2024-01-05、2024/1/5 或 2024年1月5日）")


def _month_first(text: str, m: re.Match) -> datetime.datetime:
    a, b, y, hh, mi, ss, half = m.groups()
    month, day = (int(b), int(a)) if int(a) > 12 else (int(a), int(b))
    year = int(y) + (2000 if len(y) == 2 else 0)
    hour = int(hh or 0)
    if half:
        hour = hour % 12 + (12 if half.upper() == "PM" else 0)
    try:
        return datetime.datetime(year, month, day, hour, int(mi or 0), int(ss or 0))
    except ValueError:
        raise BadValue(f"“{text}”不是有效的日期") from None


def time_precision(value: object) -> datetime.timedelta:
    """How finely a cell gives a time: a date cell or a serial number to the second; text to the second, the
    minute or the day, as written. A spreadsheet program that saved a time shown as 13:45 dropped its seconds."""
    if isinstance(value, datetime.datetime | int | float):
        return SECOND
    if isinstance(value, datetime.date):
        return DAY
    text = cell_text(value)
    if re.search(r"\d{1,2}[:：时]\d{1,2}[:：分]\d{1,2}", text):
        return SECOND
    if re.search(r"\d{1,2}[:：时]\d{1,2}", text):
        return MINUTE
    return SECOND if re.fullmatch(r"\d{4,5}(\.\d+)?", text) else DAY  # a serial number, else a date alone


def same_time(stored: datetime.datetime, read: datetime.datetime, precision: datetime.timedelta) -> bool:
    """Whether a stored moment is the one a file gives at its precision (on the shop's clock): 13:45:59 is the
    13:45 of a file without seconds (programs cut the seconds, or round them), and any time that day is a plain
    date's."""
    stored = to_second(timezone.localtime(stored)).replace(tzinfo=None)
    read = timezone.localtime(read).replace(tzinfo=None)
    if precision >= DAY:
        return stored.date() == read.date()
    return read <= stored < read + precision or abs(stored - read) <= precision / 2


def to_second(value: datetime.datetime) -> datetime.datetime:
    """Excel keeps times as fractions of a day; round away the float noise to whole seconds."""
    return (value + datetime.timedelta(microseconds=500_000)).replace(microsecond=0)


def parse_date(value: object) -> datetime.date:
    return parse_datetime_naive(value).date()


def parse_datetime(value: object) -> datetime.datetime:
    """An aware datetime in the shop's time zone (a plain date means 00:00 that day)."""
    return timezone.make_aware(to_second(parse_datetime_naive(value)))


# symbols and units of the currencies a shop may use (kehu.lib.money): "HK$1,200", "1200港元", "€12"
_MONEY_NOISE = re.compile(r"(?:hk|mop|nt|us|s|jp)?[$¥]|[￥€£,，\s]"
                          r"|港元|港币|澳门元|新台币|新加坡元|美元|欧元|英镑|日元|元"
                          r"|rmb|cny|hkd|mop|twd|ntd|sgd|usd|eur|gbp|jpy", re.IGNORECASE)


def parse_amount(value: object) -> Decimal:
    """1200, '¥1,200.00', '1200元', '1.2万' → Decimal."""
    if isinstance(value, bool):
        raise BadValue(f"“{value}”不是有效的金额")
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = cell_text(value)
    if not text:
        raise BadValue("金额为空")
    cleaned = _MONEY_NOISE.sub("", text)
    factor = Decimal(1)
    if cleaned.endswith("万"):
        cleaned, factor = cleaned[:-1], Decimal(10000)
    try:
        amount = Decimal(cleaned) * factor
    except InvalidOperation:
        raise BadValue(f"“{text}”不是有效的金额") from None
    if not amount.is_finite():
        raise BadValue(f"“{text}”不是有效的金额")
    return amount


def parse_number(value: object, label: str = "数量") -> Decimal:
    try:
        return parse_amount(value)
    except BadValue:
        raise BadValue(f"“{cell_text(value)}”不是有效的{label}") from None


_LIST_SPLIT = re.compile(r"[、,，;；/|｜\n]+|\s+")
_ITEM_SPLIT = re.compile(r"[、,，;；|｜\n]+")


def parse_list(value: object, spaces: bool = True) -> list[str]:
    """'服装、化妆品' / 'a, b; c' → ['服装', '化妆品'] (order kept, duplicates dropped).

    With spaces=False a space does not separate items ('Nike Air Max' stays one product).
    """
    seen: dict[str, None] = {}
    for part in (_LIST_SPLIT if spaces else _ITEM_SPLIT).split(cell_text(value)):
        if part.strip():
            seen.setdefault(part.strip(), None)
    return list(seen)


def _key(text: str) -> str:
    """What matching compares: full width as half (ＷＸ → wx), lower case, no spaces, dashes as "-", no
    thousands separators (1,000 → 1000)."""
    text = unicodedata.normalize("NFKC", text).lower()
    return _DASHES.sub("-", _THOUSANDS.sub("", re.sub(r"\s+", "", text)))


_DASHES = re.compile(r"[–—―~〜～至]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3})")


def _choice(table: dict[str, list[str]], label: str, contains: bool = True, choices: type[Choices] | None = None):
    """A parser for one field's words (see words.py): exact word first, then the longest word the cell contains.
    With `choices`, the field's labels in every language kehu speaks are words too (男, Male): what an export
    writes reads back."""

    @functools.cache
    def lookup() -> tuple[dict[str, str], list[tuple[str, str]]]:  # built on first use, catalogues loaded
        index: dict[str, str] = {}
        for code, names in table.items():
            index[_key(code)] = code
            for n in names:
                index[_key(n)] = code
        for code, choice_label in (choices.choices if choices else []):
            for text in translated(choice_label):
                index.setdefault(_key(text), code)
        inside = sorted(((k, c) for k, c in index.items() if len(k) >= 2), key=lambda kc: -len(kc[0]))
        return index, inside

    def parse(value: object) -> str:
        index, inside = lookup()
        text = cell_text(value)
        key = _key(text)
        if key in index:
            return index[key]
        if contains and key:
            found = [(len(k), c) for k, c in inside if k in key]
            if found and len({c for n, c in found if n == found[0][0]}) == 1:
                return found[0][1]
        options = "、".join(names[0] for names in table.values())
        raise BadValue(f"“{text}”不是可识别的{label}（可选：{options}）")

    parse.options = [names[0] for names in table.values()]  # type: ignore[attr-defined]
    return parse


parse_payment_method = _choice(words.PAYMENT_METHODS, "支付方式", choices=PaymentMethod)
parse_sales_channel = _choice(words.SALES_CHANNELS, "销售渠道", choices=SalesChannel)
parse_marketing_channel = _choice(words.MARKETING_CHANNELS, "营销渠道", choices=MarketingChannel)
parse_communication_method = _choice(words.COMMUNICATION_METHODS, "沟通方式", choices=CommunicationMethod)
parse_gender = _choice(words.GENDERS, "性别", choices=Gender)
parse_customer_kind = _choice(words.CUSTOMER_KINDS, "客户类型", choices=Kind)
parse_company_size = _choice(words.COMPANY_SIZES, "公司规模", choices=CompanySize)
# "未完成" contains "完成": a status is matched by its whole words only.
parse_order_status = _choice(words.ORDER_STATUSES, "订单状态", contains=False, choices=OrderStatus)
_province = _choice({p: [p, *names] for p, names in words.PROVINCES.items()}, "省份")


def parse_province(value: object) -> str:
    """广东 → 广东省, 内蒙 → 内蒙古自治区, 广东省深圳市 → 广东省; BadValue for what is no province."""
    try:
        return _province(value)
    except BadValue:
        raise BadValue(f"“{cell_text(value)}”不是可识别的省份（请填写如 广东省、内蒙古自治区）") from None


def parse_city(value: object) -> str:
    """A city as written, with width and spaces normalised; a bare two-character name gains 市 (广州 → 广州市)."""
    text = re.sub(r"\s+", "", unicodedata.normalize("NFKC", cell_text(value)))
    if re.fullmatch(r"[\u4e00-\u9fff]{2}", text) and text not in words.NOT_CITIES:
        return text + "市"
    return text


_YES = {"是", "同意", "允许", "接受", "y", "yes", "true", "1", "√", "✓", "已授权", "授权"}
_NO = {"否", "不同意", "拒绝", "不接受", "n", "no", "false", "0", "×", "✗", "未授权", "退订"}


@functools.cache
def _yes_no() -> tuple[set[str], set[str]]:
    return (_YES | {t.lower() for t in translated(YES)}), (_NO | {t.lower() for t in translated(NO)})


def parse_bool(value: object) -> bool:
    text = cell_text(value).lower()
    yes, no = _yes_no()
    if text in yes:
        return True
    if text in no:
        return False
    raise BadValue(f"“{cell_text(value)}”应填写“是”或“否”")


def parse_grade(value: object) -> str:
    text = cell_text(value).upper().replace("级", "").replace("类", "")
    return text
