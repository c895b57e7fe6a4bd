# A same-day re-run keeps the day's run when nothing it was computed from has changed (pipeline.unchanged_run).
# The class rows an order changed since the last run have no fingerprint: a partial index of those few rows answers
# at once whether there are any. A job records that it kept the day's run.

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("segments", "0011_fewer_indexes"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="customersegment",
            index=models.Index(condition=models.Q(("fingerprint__isnull", True)), fields=["customer"],
                               name="segment_changed_since_run_idx"),
        ),
        migrations.AddField(
            model_name="segmentjob",
            name="unchanged",
            field=models.BooleanField(default=False, verbose_name="沿用当天结果"),
        ),
    ]
