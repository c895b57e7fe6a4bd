"""without_own_index: a foreign key whose lookups a composite index serves loses its own index, on every backend,
without the table being rebuilt; reversed, the index comes back."""

import pytest
from django.apps import apps
from django.db import connection

from kehu.lib.schema import without_own_index
from kehu.sales.models import Order


def indexes(table: str) -> dict[str, list[str]]:
    with connection.cursor() as cursor:
        found = connection.introspection.get_constraints(cursor, table)
    return {name: info["columns"] for name, info in found.items()
            if (info["index"] or info["unique"]) and not info["primary_key"]}


def row_count(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table}")
        return cursor.fetchone()[0]


def test_after_the_migrations_the_customer_lookups_of_orders_and_category_spend_have_one_index_each(db):
    for table in ("sales_order", "segments_customercategoryspend"):
        columns = list(indexes(table).values())
        assert ["customer_id"] not in columns
        assert any(c[0] == "customer_id" and len(c) == 2 for c in columns), columns   # the composite one serves


@pytest.mark.django_db(transaction=True)
def test_the_operation_drops_the_index_and_its_reverse_builds_it_again(zhang):
    Order.objects.create(customer=zhang, amount="12.00")
    field = Order._meta.get_field("customer")
    operation = without_own_index("sales", "order", "customer", field).database_operations[0]
    table = Order._meta.db_table
    before = indexes(table)
    with connection.schema_editor() as editor:
        operation.reverse_code(apps, editor)
    built = {name: columns for name, columns in indexes(table).items() if name not in before}
    assert list(built.values()) == [["customer_id"]]
    with connection.schema_editor() as editor:
        operation.reverse_code(apps, editor)   # once only
    assert len(indexes(table)) == len(before) + 1
    with connection.schema_editor() as editor:
        operation.code(apps, editor)
    assert indexes(table) == before
    assert row_count(table) == 1   # the rows stay: no table rebuilt
