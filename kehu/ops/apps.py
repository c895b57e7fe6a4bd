from django.apps import AppConfig


class OpsConfig(AppConfig):
    """Running a kehu store: init, serve, demo data, backup and restore."""

    name = "kehu.ops"
    label = "ops"
    verbose_name = "运维"

    def ready(self) -> None:
        from django.utils.translation import gettext_lazy as _

        from kehu.lib.settings_menu import SettingsPage, register

        register(SettingsPage("mail", _("邮件服务器"), "ops:mail", _("营销邮件使用的 SMTP 服务器（环境变量中设置）。"),
                              order=80))
        register(SettingsPage("backups", _("备份"), "ops:backups", _("查看、立即备份、校验备份能否恢复。"), order=90))
