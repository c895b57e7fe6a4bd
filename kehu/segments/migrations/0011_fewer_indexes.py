# Indexes that another one covers: each cost a write per order (and per class change).

import django.db.models.deletion
from django.db import migrations, models

from kehu.lib.schema import without_own_index


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0006_owner_menu_indexes"),
        ("segments", "0010_segment_without_daily_values"),
    ]

    operations = [
        # segment_risk_sort_idx (value_at_risk, customer) serves both directions
        migrations.RemoveIndex(model_name="customersegment", name="segment_risk_idx"),
        # the unique (customer, category) index serves the customer's lookups
        without_own_index("segments", "customercategoryspend", "customer", models.ForeignKey(
            db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="category_spend",
            to="customers.customer")),
    ]
