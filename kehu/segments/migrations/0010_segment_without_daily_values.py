"""Class rows without values that change by themselves every day: recency and tenure become the first and last
purchase days, the row's date the day it last changed; a fingerprint lets a run find the rows that changed."""

from django.db import migrations, models


def purchase_days(apps, schema_editor):
    table = apps.get_model("segments", "CustomerSegment")._meta.db_table
    if schema_editor.connection.vendor == "sqlite":
        last = "date(as_of, '-' || recency_days || ' days')"
        first = "date(as_of, '-' || tenure_days || ' days')"
    else:
        last, first = "as_of - recency_days", "as_of - tenure_days"
    schema_editor.execute(f"UPDATE {table} SET last_order_day = {last}, first_order_day = {first}"
                          " WHERE recency_days IS NOT NULL AND tenure_days IS NOT NULL")


class Migration(migrations.Migration):

    dependencies = [
        ("segments", "0009_segmentjob"),
    ]

    operations = [
        migrations.AddField(
            model_name="customersegment",
            name="first_order_day",
            field=models.DateField(blank=True, null=True, verbose_name="首次消费日"),
        ),
        migrations.AddField(
            model_name="customersegment",
            name="last_order_day",
            field=models.DateField(blank=True, null=True, verbose_name="最近消费日"),
        ),
        migrations.AddField(
            model_name="customersegment",
            name="fingerprint",
            field=models.BigIntegerField(blank=True, editable=False, null=True),
        ),
        migrations.RunPython(purchase_days, migrations.RunPython.noop),
        migrations.RemoveField(model_name="customersegment", name="recency_days"),
        migrations.RemoveField(model_name="customersegment", name="tenure_days"),
        migrations.RenameField(model_name="customersegment", old_name="as_of", new_name="changed_on"),
        migrations.AlterField(
            model_name="customersegment",
            name="changed_on",
            field=models.DateField(verbose_name="分层变化日期"),
        ),
    ]
