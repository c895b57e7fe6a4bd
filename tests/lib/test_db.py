"""run_prepared: the same rows as Django's cursor; on PostgreSQL the statement is prepared once on the connection
(and only it: Django's own statements stay unprepared, as a pooler needs), not at all with KEHU_PG_PREPARE off."""

import pytest
from django.db import connection

from kehu.lib.db import run_prepared
from kehu.sales.models import Category

SQL = "SELECT name FROM sales_category WHERE id >= %s ORDER BY name"


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_run_prepared_gives_the_rows_and_prepares_on_postgresql():
    connection.close()   # a new connection: nothing prepared on it yet
    first = Category.objects.create(name="茶叶")
    Category.objects.create(name="茶具")
    for _ in range(3):
        assert run_prepared(SQL, [first.pk]) == [("茶具",), ("茶叶",)]
    assert run_prepared("UPDATE sales_category SET name = %s WHERE id = %s", ["绿茶", first.pk]) == []
    assert Category.objects.get(pk=first.pk).name == "绿茶"
    if connection.vendor != "postgresql":
        return
    for _ in range(10):
        list(Category.objects.filter(name="绿茶"))   # Django's own statements: never prepared
    assert sorted(prepared_statements()) == ["SELECT name FROM sales_category WHERE id >= $1 ORDER BY name",
                                             "UPDATE sales_category SET name = $1 WHERE id = $2"]


@pytest.mark.django_db(transaction=True)
def test_without_preparing_on_postgresql(settings):
    if connection.vendor != "postgresql":
        pytest.skip("preparing is PostgreSQL's")
    settings.KEHU_PG_PREPARE = False
    connection.close()
    Category.objects.create(name="茶叶")
    assert run_prepared(SQL, [0]) == [("茶叶",)]
    assert prepared_statements() == []
