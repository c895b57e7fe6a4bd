from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "kehu.api"
    label = "api"
    verbose_name = "接口"
