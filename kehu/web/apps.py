from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "kehu.web"
    label = "web"
    verbose_name = "界面"
