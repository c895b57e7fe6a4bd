"""The list's filter menus: the provinces, cities and industries among the customers a user sees.

A DISTINCT over a million customers reads the whole table (0.5–2 s on PostgreSQL), which is why these lists
used to be cached for minutes and came back stale and slow. Here each list is a walk over an index that starts
with its column: one index probe per distinct value ("loose index scan"), a few milliseconds for a few hundred
cities at any store size, always exact, so no process ever serves a menu another process has changed. A sales
rep's lists walk the indexes that start with the owner (customer_owner_place_idx, customer_owner_industry_idx).
"""

from django.db import connection

from .models import Customer

MENU_FIELDS = ("province", "city", "industry")


def distinct_values(user, field: str, province: str = "") -> list[str]:
    """The non-empty values of `field` among the customers `user` sees (cities: of `province` when given), in
    the database's order."""
    where = {} if user.sees_all_customers else {"owner_id": user.pk}
    if field == "city":
        if province:
            where["province"] = province
        elif where:  # a rep's cities: per province of the rep, along (owner, province, city)
            found = set()
            for value in ["", *_walk("province", where)]:
                found.update(_walk("city", {**where, "province": value}))
            return sorted(found)
    return _walk(field, where)


def _walk(column: str, where: dict[str, object]) -> list[str]:
    """The distinct non-empty values of `column` where the columns of `where` equal its values: a recursive query
    that asks the index for the next value above the last one found, until there is none."""
    qn = connection.ops.quote_name
    table, col = qn(Customer._meta.db_table), qn(column)
    conditions = "".join(f" AND {qn(name)} = %s" for name in where)
    step = f"SELECT {col} FROM {table} WHERE {col} > {{}}{conditions} ORDER BY {col} LIMIT 1"
    sql = (f"WITH RECURSIVE walk(value) AS (SELECT ({step.format('%s')})"
           f" UNION ALL SELECT ({step.format('walk.value')}) FROM walk WHERE walk.value IS NOT NULL)"
           " SELECT value FROM walk WHERE value IS NOT NULL")
    values = list(where.values())
    with connection.cursor() as cursor:
        cursor.execute(sql, ["", *values, *values])
        return [row[0] for row in cursor.fetchall()]
