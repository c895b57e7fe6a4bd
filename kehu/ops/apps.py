from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running a kehu store: init, serve, demo data, backup and restore."""

    name = "kehu.ops"
    label = "ops"
    verbose_name = "运维"
