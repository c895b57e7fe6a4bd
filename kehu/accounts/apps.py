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
        register(SettingsPage("currency", _("币种"), "shop:currency",
                              _("页面、说明、导出和图表中的金额所用的币种。"), order=20))

        from kehu.lib import money

        from .models import ShopSettings

        money.register(ShopSettings.currency_code)
