"""Age bands (年龄段) from birthdays: exact age in whole years (周岁) on a date, and editable band boundaries.

    bands = AgeBands((25, 35, 45, 55))
    bands.keys            → ("<25", "25-34", "35-44", "45-54", "55+")
    bands.key_of(date(1990, 2, 28), as_of=date(2025, 2, 27))   → "25-34"   (34 years old)
    bands.key_of(None, as_of=…)                                  → ""        (未知)

The key is what the archive stores (`Customer.age_band`) and what filters and rules name; the label is the key
with an en dash ("25–34"). Someone born on 29 February is a year older on 1 March in a year without one.
"""

from __future__ import annotations

import datetime
import itertools
from dataclasses import dataclass

DEFAULT_BOUNDARIES = (25, 35, 45, 55)
UNKNOWN = ""                 # no birthday: the band 未知
MAX_BOUNDARIES = 8
OLDEST = 120


def age_on(birthday: datetime.date, as_of: datetime.date) -> int:
    """Whole years lived on `as_of` (周岁): one more on each birthday; 29 Feb counts from 1 Mar in other years."""
    return as_of.year - birthday.year - ((as_of.month, as_of.day) < (birthday.month, birthday.day))


def next_birthday(birthday: datetime.date, after: datetime.date) -> datetime.date:
    """The first day after `after` on which a person born on `birthday` is a year older (age_on): the age, and so the
    band, stays what it is on `after` until the day before. Born on 29 February: 1 March in a year without one."""
    for year in (after.year, after.year + 1):
        try:
            day = birthday.replace(year=year)
        except ValueError:   # 29 February in a year without one
            day = datetime.date(year, 3, 1)
        if day > after:
            return day
    raise AssertionError("a birthday comes round within a year")


class BandError(ValueError):
    """Boundaries that cannot make bands; the message is Chinese, for the form."""


@dataclass(frozen=True)
class AgeBands:
    """Bands cut at ascending ages: (25, 35) gives <25, 25–34, 35+."""

    boundaries: tuple[int, ...] = DEFAULT_BOUNDARIES

    def __post_init__(self) -> None:
        values = self.boundaries
        if not values or len(values) > MAX_BOUNDARIES:
            raise BandError(f"请填写 1 到 {MAX_BOUNDARIES} 个分界年龄")
        if any(not isinstance(v, int) or isinstance(v, bool) or not 1 <= v <= OLDEST for v in values):
            raise BandError(f"分界年龄应为 1 到 {OLDEST} 之间的整数")
        if any(b <= a for a, b in itertools.pairwise(values)):
            raise BandError("分界年龄应从小到大排列，且不能重复")

    @classmethod
    def parse(cls, text: str) -> AgeBands:
        """From what a person types: "25, 35, 45, 55" (commas, 、 or spaces)."""
        parts = [p for p in text.replace("，", ",").replace("、", ",").replace(" ", ",").split(",") if p]
        if not all(p.isascii() and p.isdigit() for p in parts):
            raise BandError("分界年龄应为整数，用逗号分隔，如 25, 35, 45, 55")
        return cls(tuple(int(p) for p in parts))

    @classmethod
    def from_list(cls, values) -> AgeBands:
        """From stored JSON; the defaults when nothing (or nothing usable) was stored."""
        try:
            return cls(tuple(values)) if values else cls()
        except (BandError, TypeError):
            return cls()

    @property
    def keys(self) -> tuple[str, ...]:
        """Youngest first, without 未知."""
        b = self.boundaries
        middle = [f"{low}-{high - 1}" for low, high in itertools.pairwise(b)]
        return (f"<{b[0]}", *middle, f"{b[-1]}+")

    def key_for_age(self, age: int) -> str:
        for key, high in zip(self.keys, self.boundaries, strict=False):
            if age < high:
                return key
        return self.keys[-1]

    def key_of(self, birthday: datetime.date | None, as_of: datetime.date) -> str:
        return UNKNOWN if birthday is None else self.key_for_age(age_on(birthday, as_of))

    def text(self) -> str:
        return ", ".join(str(v) for v in self.boundaries)


def label(key: str, unknown: str = "未知") -> str:
    """How a band key reads: "25-34" → "25–34", "" → 未知."""
    return key.replace("-", "–") if key else unknown


def key_from_label(text: str) -> str:
    """A band as a person may type it ("25–34", "25-34", "未知") → its key."""
    text = text.strip().replace("–", "-").replace("—", "-").replace("岁", "")
    return UNKNOWN if text in ("未知", "unknown") else text
