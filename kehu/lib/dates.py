"""Dates and times as the shop sees them (local time zone)."""

import datetime

from django.utils import timezone


def today() -> datetime.date:
    return timezone.localdate()


def not_in_future(value: datetime.date | datetime.datetime, label: str) -> str | None:
    """A Chinese message if the date lies after today, else None."""
    day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
    if day > today():
        return f"{label}不能晚于今天（{day:%Y-%m-%d}）"
    return None
