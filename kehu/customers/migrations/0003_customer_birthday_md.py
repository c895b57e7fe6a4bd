"""Customer.birthday_md: the birthday's month and day (MMDD), filled in for the customers already stored."""

from django.db import migrations, models

BATCH = 2000


def fill(apps, schema_editor):
    Customer = apps.get_model("customers", "Customer")
    rows = Customer.objects.filter(birthday__isnull=False).exclude(birthday="").only("id", "birthday").order_by("id")
    last = 0
    while batch := list(rows.filter(id__gt=last)[:BATCH]):
        for customer in batch:
            customer.birthday_md = customer.birthday.month * 100 + customer.birthday.day
        Customer.objects.bulk_update(batch, ["birthday_md"])
        last = batch[-1].id


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0002_health_score_updated_by"),
    ]

    operations = [
        migrations.AddField(
            model_name="customer",
            name="birthday_md",
            field=models.PositiveSmallIntegerField(blank=True, db_index=True, editable=False, null=True),
        ),
        migrations.RunPython(fill, migrations.RunPython.noop),
    ]
