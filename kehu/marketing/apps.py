from django.apps import AppConfig


class MarketingConfig(AppConfig):
    name = "kehu.marketing"
    label = "marketing"
    verbose_name = "精准营销"
