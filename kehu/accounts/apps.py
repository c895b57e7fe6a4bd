from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "kehu.accounts"
    label = "accounts"
    verbose_name = "账号与权限"

    def ready(self):
        from . import audit, tokens

        audit.connect()
        tokens.connect()
