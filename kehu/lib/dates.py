"""Dates and times as the shop sees them (local time zone)."""

import datetime

from django import forms
from django.utils import timezone
from django.utils.translation import gettext


def today() -> datetime.date:
    return timezone.localdate()


EARLIEST = datetime.date(1900, 1, 1)  # before this a date is a typing slip (year 1 would not even store)


def date_problem(value: datetime.date | datetime.datetime, label: str) -> str | None:
    """A Chinese message if the date lies after today or before 1900, else None."""
    day = value.date() if isinstance(value, datetime.datetime) else value
    if day < EARLIEST:
        return gettext("%(label)s不能早于 %(earliest)s（%(day)s）") % {
            "label": label, "earliest": f"{EARLIEST:%Y-%m-%d}", "day": day.isoformat()}
    day = timezone.localtime(value).date() if isinstance(value, datetime.datetime) else value
    if day > today():
        return gettext("%(label)s不能晚于今天（%(day)s）") % {"label": label, "day": f"{day:%Y-%m-%d}"}
    return None


class DateTimeSecondsInput(forms.DateTimeInput):
    """A browser date-time field that keeps the seconds: saving an edit never truncates a stored time."""

    input_type = "datetime-local"

    def __init__(self, attrs=None):
        super().__init__({"step": "1", **(attrs or {})}, format="%Y-%m-%dT%H:%M:%S")
