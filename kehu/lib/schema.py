"""Migration operations that Django's own would make costly on a large store.

    operations = [without_own_index("sales", "order", "customer", models.ForeignKey(...db_index=False))]

A foreign key gets an index of its own; when a composite index that starts with the same column exists, that index
serves every lookup, and the extra one only costs a write per row. Django's AlterField to ``db_index=False``
rebuilds the whole table on SQLite (ten million orders: minutes); this drops just the index, on every backend.
"""

from django.db import migrations


def without_own_index(app_label: str, model_name: str, field_name: str, field) -> migrations.SeparateDatabaseAndState:
    """The field `field_name` of `app_label.model_name` becomes `field` (with db_index=False): its single-column
    index is dropped (and built again when the migration is reversed)."""

    def single_column_indexes(apps, schema_editor) -> tuple[type, list[str]]:
        model = apps.get_model(app_label, model_name)
        column = model._meta.get_field(field_name).column
        return model, schema_editor._constraint_names(model, [column], index=True, unique=False, primary_key=False)

    def drop(apps, schema_editor) -> None:
        model, names = single_column_indexes(apps, schema_editor)
        for name in names:
            schema_editor.execute(schema_editor._delete_index_sql(model, name))

    def build(apps, schema_editor) -> None:
        model, names = single_column_indexes(apps, schema_editor)
        if not names:
            schema_editor.execute(schema_editor._create_index_sql(model, fields=[model._meta.get_field(field_name)]))

    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name, field_name, field)],
        database_operations=[migrations.RunPython(drop, build)],
    )
