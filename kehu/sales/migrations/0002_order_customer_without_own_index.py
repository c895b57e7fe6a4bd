# order_customer_time_idx (customer, ordered_at) serves the customer's lookups: the foreign key's own index only
# cost a write per order.

import django.db.models.deletion
from django.db import migrations, models

from kehu.lib.schema import without_own_index


class Migration(migrations.Migration):

    dependencies = [
        ("customers", "0006_owner_menu_indexes"),
        ("sales", "0001_initial"),
    ]

    operations = [
        without_own_index("sales", "order", "customer", models.ForeignKey(
            db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name="orders",
            to="customers.customer", verbose_name="客户")),
    ]
