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
from django.db.models import F, Q, QuerySet
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


def _model_field(model, path: str):
    """The field at the end of `path` ('name', 'metrics__monetary'), following relations."""
    *hops, last = path.split("__")
    for hop in hops:
        model = model._meta.get_field(hop).related_model
    return model._meta.get_field(last)


def _after(name: str, value, pk: int, op: str) -> Q:
    """Rows after (value, pk) in the walk: `name op value`, or the same value and a later id. The first term
    (≤ / ≥) repeats what the OR implies so the database can start its index scan at `value`."""
    return Q(**{f"{name}__{op}e": value}) & (Q(**{f"{name}__{op}": value}) | Q(**{name: value, f"pk__{op}": pk}))


def keyset_page(qs: QuerySet, sort: str, cursor: str = "", size: int = 50) -> KeysetPage:
    """One page of `qs` ordered by `sort` ('name', '-registered_at', '-id', '-metrics__monetary', …) then id.

    A sort over a relation ('metrics__monetary', a one-to-one that a row may lack) puts the rows without a value last in
    either direction (ordered by id, in the sort's direction): the rows with a value are one index walk, the
    others a second one that starts only when the first runs out, and a cursor in the second holds no value.

    `cursor` comes from a previous page's next_cursor or prev_cursor; '' is the first page. A cursor that was
    not made here (edited, truncated, forged) raises BadParameter.
    """
    descending = sort.startswith("-")
    name = sort.lstrip("-")
    model_field = _model_field(qs.model, name)
    related = "__" in name
    nullable = related
    decoded = decode_cursor(cursor) if cursor else None
    backwards = decoded is not None and decoded[0] == "before"
    # Walking backwards is walking forwards over the reversed order.
    walk_desc = descending != backwards
    op = "lt" if walk_desc else "gt"
    sign = "-" if walk_desc else ""
    if related:
        qs = qs.annotate(keyset_value=F(name))
    # The walk: rows with a value, then (nullable sorts) rows without; reversed when walking backwards.
    parts = ["valued", "null"] if nullable else ["valued"]
    if backwards:
        parts.reverse()
    start, cond = 0, None
    if decoded:
        _, raw_value, pk = decoded
        if raw_value is None and nullable:
            start, cond = parts.index("null"), Q(pk__lt=pk) if walk_desc else Q(pk__gt=pk)
        elif name in ("id", "pk"):
            cond = Q(**{f"pk__{op}": pk})
        else:
            value = _sort_value(model_field, raw_value, connections[qs.db])
            start, cond = parts.index("valued"), _after(name, value, pk, op)
    rows: list = []
    for index, part in enumerate(parts[start:], start):
        piece = qs
        if part == "null":
            piece = piece.filter(**{f"{name}__isnull": True})
            order = [f"{sign}pk"]
        else:
            if nullable:
                piece = piece.filter(**{f"{name}__isnull": False})
            order = [f"{sign}pk"] if name in ("id", "pk") else [f"{sign}{name}", f"{sign}pk"]
        if index == start and cond is not None:
            piece = piece.filter(cond)
        rows += list(piece.order_by(*order)[: size + 1 - len(rows)])
        if len(rows) > size:
            break
    more = len(rows) > size
    rows = rows[:size]
    if backwards:
        rows.reverse()
    if not rows:
        return KeysetPage(items=[])

    def key(obj) -> tuple:
        if related:
            return obj.keyset_value, obj.pk
        return getattr(obj, name if name != "pk" else "id"), obj.pk

    first, last = rows[0], rows[-1]
    has_next = more if not backwards else True
    has_prev = (decoded is not None) if not backwards else more
    return KeysetPage(
        items=rows,
        next_cursor=encode_cursor(*key(last), "after") if has_next else "",
        prev_cursor=encode_cursor(*key(first), "before") if has_prev else "",
    )
