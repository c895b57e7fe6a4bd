"""The shop's currency (settings.KEHU_CURRENCY, default ¥) in sentences, labels and spreadsheet formats.

    money_text(5200) → "¥5,200"       money_text(1800.5) → "¥1,800.50"       money_format() → '"¥"#,##0.00'
"""

from decimal import Decimal

from django.conf import settings


def currency() -> str:
    return getattr(settings, "KEHU_CURRENCY", "¥")


def money_text(value: float | Decimal | int, whole: bool = True) -> str:
    """An amount with the currency; whole amounts drop ".00" unless whole=False."""
    text = f"{Decimal(str(value)):,.2f}"
    if whole and text.endswith(".00"):
        text = text[:-3]
    return currency() + text


def money_format() -> str:
    """An Excel number format showing the currency, e.g. "¥"#,##0.00."""
    symbol = currency().replace('"', "")
    return f'"{symbol}"#,##0.00'
