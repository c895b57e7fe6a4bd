from django.apps import AppConfig


class CustomersConfig(AppConfig):
    name = "kehu.customers"
    label = "customers"
    verbose_name = "客户档案"

    def ready(self) -> None:
        from django.urls import register_converter

        from .converters import CustomerCodeConverter

        register_converter(CustomerCodeConverter, "code")  # `<code:code>` in the URLs of every app
