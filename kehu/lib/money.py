"""The shop's currency: one setting (系统设置 → 币种) used by every amount on screen, in sentences, exports and
charts. Amounts are stored as plain numbers; only their labels change with the currency.

The setting lives in the accounts app (`ShopSettings`), which registers its lookup here at start-up, so this
module imports no app. A process with no store (`kehu analyze`) passes its own currency with `using()`:

    money.fmt(Decimal("1234.5"))          → "¥1,234.50"       (the shop's currency)
    money.fmt(5200, trim=True)            → "¥5,200"
    money.header("消费金额")               → "消费金额（元）"    ("消费金额（港元）" in HKD)
    money.unit_label("金额（元）")          → "金额（港元）"      in HKD
    with money.using("JPY"): money.fmt(1234.5) → "JP¥1,235"
"""

from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal


@dataclass(frozen=True)
class Currency:
    code: str  # ISO 4217
    symbol: str  # shown before an amount
    name: str  # 人民币, 港元 … (shown in the settings page)
    unit: str  # the unit in a header: 金额（元）, 金额（港元）
    decimals: int = 2

    def format(self, value, trim: bool = False) -> str:
        """1234.5 → "¥1,234.50"; with `trim`, whole amounts lose ".00" ("¥5,200"); None/"" → "—"."""
        if value in (None, ""):
            return "—"
        amount = Decimal(str(value)).quantize(Decimal(1).scaleb(-self.decimals), rounding=ROUND_HALF_UP)
        text = f"{abs(amount):,.{self.decimals}f}"
        if trim and self.decimals and text.endswith("." + "0" * self.decimals):
            text = text[: -(self.decimals + 1)]
        return ("-" if amount < 0 else "") + self.symbol + text

    def header(self, label) -> str:
        """A column header or axis name with the unit: "消费金额" → "消费金额（港元）" ("Revenue (HKD)" in English)."""
        from django.utils.translation import get_language

        if (get_language() or "zh-hans").startswith("en"):
            return f"{label} ({self.code})"
        return f"{label}（{self.unit}）"

    @property
    def number_format(self) -> str:
        """An Excel number format that shows the symbol in the cell and keeps the value a number ("HK$1,234.50").
        Yuan stay plain "#,##0.00" (the header says 元): "¥" has no place in the GBK CSV a Chinese Excel saves."""
        digits = "#,##0" + ("." + "0" * self.decimals if self.decimals else "")
        if self.code == DEFAULT:
            return digits
        return f'"{self.symbol}"{digits};-"{self.symbol}"{digits}'


CURRENCIES: dict[str, Currency] = {c.code: c for c in (
    Currency("CNY", "¥", "人民币", "元"),
    Currency("HKD", "HK$", "港元", "港元"),
    Currency("MOP", "MOP$", "澳门元", "澳门元"),
    Currency("TWD", "NT$", "新台币", "新台币"),
    Currency("SGD", "S$", "新加坡元", "新加坡元"),
    Currency("USD", "US$", "美元", "美元"),
    Currency("EUR", "€", "欧元", "欧元"),
    Currency("GBP", "£", "英镑", "英镑"),
    Currency("JPY", "JP¥", "日元", "日元", decimals=0),
)}
DEFAULT = "CNY"
CHOICES = [(c.code, f"{c.code} {c.symbol} {c.name}") for c in CURRENCIES.values()]

_lookup: list[Callable[[], str]] = []
_override: contextvars.ContextVar[str | None] = contextvars.ContextVar("kehu_currency", default=None)


def register(lookup: Callable[[], str]) -> None:
    """The store's currency code (accounts.ShopSettings registers itself at start-up)."""
    _lookup[:] = [lookup]


def get(code: str | None) -> Currency:
    """A currency by code; an unknown or empty code is the default (CNY)."""
    return CURRENCIES.get((code or "").upper(), CURRENCIES[DEFAULT])


def current() -> Currency:
    """The currency in force: `using()`'s, else the shop's, else CNY."""
    code = _override.get()
    if code is None and _lookup:
        try:
            code = _lookup[0]()
        except Exception:  # no store yet (before migrate): the default
            code = None
    return get(code)


@contextlib.contextmanager
def using(code: str) -> Iterator[Currency]:
    """Amounts inside the block use `code` whatever the store says (kehu analyze has no store)."""
    token = _override.set(get(code).code)
    try:
        yield get(code)
    finally:
        _override.reset(token)


def fmt(value, trim: bool = False) -> str:
    return current().format(value, trim=trim)


def header(label: str) -> str:
    """A header in the user's language with the unit: 消费金额（港元） / Revenue (HKD)."""
    return current().header(label)


def header_zh(label: str) -> str:
    """A Chinese header with the unit, whatever the language (workbooks whose headers an import reads back)."""
    return f"{label}（{current().unit}）"


def unit_label(text) -> str:
    """A label written for yuan in the shop's currency: "金额（元）" → "金额（港元）", "Value (¥)" → "Value (HKD)"."""
    c = current()
    text = str(text)
    if c.code == DEFAULT:
        return text
    return (text.replace("（元）", f"（{c.unit}）").replace("（元，", f"（{c.unit}，").replace("(元)", f"({c.unit})")
            .replace("(CNY)", f"({c.code})").replace("(CNY,", f"({c.code},").replace("(yuan)", f"({c.code})")
            .replace("(¥)", f"({c.code})"))


def symbol() -> str:
    return current().symbol
