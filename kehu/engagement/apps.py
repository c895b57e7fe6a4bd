from django.apps import AppConfig


class EngagementConfig(AppConfig):
    name = "kehu.engagement"
    label = "engagement"
    verbose_name = "沟通与偏好"
