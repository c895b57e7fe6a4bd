"""Chinese mobile numbers as people type them, normalised to E.164 (+86…) with `phonenumbers`."""

import re
from decimal import Decimal, InvalidOperation

import phonenumbers
from phonenumbers import PhoneNumberType

_SEPARATORS = re.compile(r"[\s\-–—()（）.·]")
_SCIENTIFIC = re.compile(r"(\d)(?:\.(\d+))?[eE]\+?(\d+)")


class InvalidMobile(ValueError):
    """The value is not a mobile number; the message is in Chinese and fit to show to a person."""


class LossyMobile(InvalidMobile):
    """A number a spreadsheet showed in scientific notation with digits lost (1.38123E+10): never to be stored."""


def _spreadsheet_text(raw: object) -> str:
    """A number typed into a spreadsheet comes back as 13812345678.0 or 1.3812345678E10."""
    if isinstance(raw, float | int | Decimal):
        try:
            return str(int(Decimal(str(raw))))
        except (InvalidOperation, ValueError):
            return str(raw)
    text = str(raw).strip()
    if m := _SCIENTIFIC.fullmatch(text):
        digits = len((m[1] + (m[2] or "")).lstrip("0"))
        if digits < int(m[3]) + 1:  # 1.38123E+10 is what a spreadsheet showed, not the number
            raise LossyMobile(f"“{text}”是表格以科学计数法显示的号码，只剩 {digits} 位有效数字，后几位已丢失："
                                "请把手机列设为文本格式（或加宽列）后重新保存")
    if re.fullmatch(r"\d+(\.0+)?|\d(\.\d+)?[eE]\+?\d+", text):
        try:
            return str(int(Decimal(text)))
        except InvalidOperation:
            return text
    return text


def normalize_mobile(raw: object, region: str = "CN") -> str:
    """'138 1234 5678', '+86 138-1234-5678', 13812345678.0 → '+8613812345678'.

    Raises InvalidMobile for anything that is not a valid mobile number.
    """
    text = _SEPARATORS.sub("", _spreadsheet_text(raw)).replace("＋", "+")
    if not text:
        raise InvalidMobile("手机号码为空")
    if text.startswith("0086"):
        text = "+" + text[2:]
    elif text.startswith("86") and len(text) == 13:
        text = "+" + text
    try:
        number = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidMobile(f"“{raw}”不是有效的手机号码") from exc
    if not phonenumbers.is_valid_number(number):
        raise InvalidMobile(f"“{raw}”不是有效的手机号码")
    if phonenumbers.number_type(number) not in (
        PhoneNumberType.MOBILE,
        PhoneNumberType.FIXED_LINE_OR_MOBILE,
    ):
        raise InvalidMobile(f"“{raw}”不是手机号码（可能是座机号码）")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def national_digits(e164: str) -> str:
    """'+8613812345678' → '13812345678' (other countries keep their + form)."""
    return e164[3:] if e164.startswith("+86") else e164
