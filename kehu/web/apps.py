from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kehu.web"
    label = "web"
    verbose_name = "界面"

    def ready(self) -> None:
        from kehu.lib.settings_menu import SettingsPage, register

        from .settings_tables import TABLES

        for table in TABLES.values():
            register(SettingsPage(table.key, table.label, "settings_table", table.description, table.managers,
                                  table.order, args=(table.key,)))
