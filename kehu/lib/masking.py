"""Showing personal data to people who may only see part of it."""

from .phones import national_digits

MASK = "****"


def mask_mobile(e164: str) -> str:
    """'+8613812345678' → '138****5678'."""
    if not e164:
        return ""
    digits = national_digits(e164)
    if len(digits) < 7:
        return MASK
    return f"{digits[:3]}{MASK}{digits[-4:]}"


def mask_email(email: str) -> str:
    """'zhang.san@example.com' → 'z****@example.com'."""
    if not email:
        return ""
    local, _, domain = email.partition("@")
    return f"{local[:1]}{MASK}@{domain}" if domain else MASK


def mask_text(value: str, keep: int = 1) -> str:
    """WeChat IDs, addresses: keep the first characters, hide the rest."""
    if not value:
        return ""
    return f"{value[:keep]}{MASK}"
