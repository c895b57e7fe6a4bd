"""Key-set pagination: pages by (sort value, id), so page 1,000 costs what page 1 costs.

No COUNT(*) is run; a page knows only whether there is a next and a previous one.
"""

import base64
import datetime
import json
from dataclasses import dataclass, field
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connections
from django.db.models import Q, QuerySet
from django.utils.translation import gettext as _

from .params import BIGINT_MAX, BadParameter


@dataclass
class KeysetPage:
    items: list
    next_cursor: str = ""
    prev_cursor: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def has_next(self) -> bool:
        return bool(self.next_cursor)

    @property
    def has_prev(self) -> bool:
        return bool(self.prev_cursor)


def encode_cursor(value, pk: int, direction: str) -> str:
    if hasattr(value, "isoformat"):
        value = value.isoformat()
    elif isinstance(value, Decimal):
        value = str(value)  # exact, and a DecimalField reads it back
    raw = json.dumps([direction, value, pk])
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, object, int]:
    """(direction, sort value, id) from a cursor this module made; BadParameter for anything else."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        direction, value, pk = json.loads(raw)
        if direction in ("after", "before") and type(pk) is int and 0 <= pk <= BIGINT_MAX:
            return direction, value, pk
    except (ValueError, TypeError):
        pass
    raise _bad_cursor()


def _bad_cursor() -> BadParameter:
    return BadParameter("cursor", _("翻页位置（cursor）无效，请回到第一页重新翻页"))


def _sort_value(model_field, raw, connection):
    """The cursor's sort value as the field holds it; BadParameter if the database could not take it."""
    try:
        value = model_field.to_python(raw)
        if value is None or (isinstance(value, datetime.datetime) and value.utcoffset() is None):
            raise ValueError  # the cursors made here hold a value and, for a time, its offset
        model_field.get_db_prep_value(value, connection)  # a datetime in year 1 overflows here, not in the query
    except (ValidationError, TypeError, ValueError, OverflowError):
        raise _bad_cursor() from None
    return value


def keyset_page(qs: QuerySet, sort: str, cursor: str = "", size: int = 50) -> KeysetPage:
    """One page of `qs` ordered by `sort` ('name', '-registered_at', '-id', …) then id.

    `cursor` comes from a previous page's next_cursor or prev_cursor; '' is the first page. A cursor that was
    not made here (edited, truncated, forged) raises BadParameter.
    """
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    model_field = qs.model._meta.get_field(name)
    decoded = decode_cursor(cursor) if cursor else None
    backwards = decoded is not None and decoded[0] == "before"
    # Walking backwards is walking forwards over the reversed order.
    walk_desc = descending != backwards
    order = [f"-{name}", "-pk"] if walk_desc else [name, "pk"]
    if name in ("id", "pk"):
        order = order[1:]
    if decoded:
        _, raw_value, pk = decoded
        value = _sort_value(model_field, raw_value, connections[qs.db])
        op = "lt" if walk_desc else "gt"
        if name in ("id", "pk"):
            qs = qs.filter(**{f"pk__{op}": pk})
        else:
            qs = qs.filter(Q(**{f"{name}__{op}": value}) | Q(**{name: value, f"pk__{op}": pk}))
    rows = list(qs.order_by(*order)[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return KeysetPage(items=[])

    def key(obj) -> tuple:
        return getattr(obj, name if name != "pk" else "id"), obj.pk

    first, last = rows[0], rows[-1]
    has_next = more if not backwards else True
    has_prev = (decoded is not None) if not backwards else more
    return KeysetPage(
        items=rows,
        next_cursor=encode_cursor(*key(last), "after") if has_next else "",
        prev_cursor=encode_cursor(*key(first), "before") if has_prev else "",
    )
