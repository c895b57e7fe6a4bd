from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running a kehu store: init, serve, demo data, backup and restore."""

    name = "kehu.ops"
    label = "ops"
    verbose_name = "运维"

    def ready(self) -> None:
        from kehu.customers.merge import customers_merged

        customers_merged.connect(refresh_metrics_after_merge, dispatch_uid="segments.refresh_after_merge")


def refresh_metrics_after_merge(sender, kept, **kwargs) -> None:
    """A merge moves orders with update(), which the metrics signals do not see: recompute the kept customer.

    (Glue between customers and segments, kept here so that neither imports the other's internals;
    segments may take it over with the same dispatch_uid.)
    """
    from kehu.segments.pipeline import refresh_customers

    refresh_customers([kept.pk])
