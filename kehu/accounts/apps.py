from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kehu.accounts"
    label = "accounts"
    verbose_name = "账号与权限"

    def ready(self):
        from . import audit, tokens

        audit.connect()
        tokens.connect()

        from django.utils.translation import gettext_lazy as _

        from kehu.lib.settings_menu import SettingsPage, register

        register(SettingsPage("users", _("用户与角色"), "users:list",
                              _("新建用户、分配角色、停用、重设密码、解除登录锁定、撤销 API 令牌。"), order=10))
