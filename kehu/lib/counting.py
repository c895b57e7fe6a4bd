"""How many rows a list holds, fast: exact when that is cheap, an estimate otherwise.

On PostgreSQL a COUNT(*) over a million rows takes longer than the page itself. Above `EXACT_UP_TO` rows
the count is the planner's estimate instead: the table's `pg_class.reltuples` for a whole table, the
`EXPLAIN` row estimate for a filtered one, shown marked ≈. When the planner guesses fewer, the rows are counted
only up to `EXACT_UP_TO` + 1 ("more than 10,000" if that many). SQLite has no estimate: its count is exact.
"""

import json
from dataclasses import dataclass

from django.core.exceptions import EmptyResultSet
from django.db import connections
from django.db.models import QuerySet

EXACT_UP_TO = 10_000


@dataclass(frozen=True)
class Total:
    value: int
    estimated: bool = False
    more: bool = False  # more than `value` rows: counted up to EXACT_UP_TO, and the planner guessed fewer


def list_total(qs: QuerySet, *, whole_table: bool = False) -> Total:
    """The number of rows of `qs`; `whole_table` says `qs` is every row of its model's table (no filter)."""
    connection = connections[qs.db]
    if connection.vendor != "postgresql":
        return Total(qs.count())
    if whole_table:
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [qs.model._meta.db_table])
            row = cursor.fetchone()
        guess = int(row[0]) if row and row[0] and row[0] > 0 else 0
    else:
        try:
            sql, params = qs.order_by().values("pk").query.sql_with_params()
        except EmptyResultSet:  # a filter that can match nothing (an unknown rule: pk IN ()) has no SQL at all
            return Total(0)
        with connection.cursor() as cursor:
            cursor.execute(f"EXPLAIN (FORMAT JSON) {sql}", params)
            plan = cursor.fetchone()[0]
        plan = json.loads(plan) if isinstance(plan, str) else plan
        guess = int(plan[0]["Plan"]["Plan Rows"])
    if guess > EXACT_UP_TO:
        return Total(guess, estimated=True)
    # The planner can guess far too low (two correlated filters, province and city): count at most one row past
    # the limit, so a wrong guess costs a bounded scan, never a COUNT over the whole table.
    counted = qs.order_by()[: EXACT_UP_TO + 1].count()
    if counted > EXACT_UP_TO:
        return Total(EXACT_UP_TO, estimated=True, more=True)
    return Total(counted)
