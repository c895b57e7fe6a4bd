from django.urls import path

from . import views_audit

app_name = "accounts"
urlpatterns = [
    path("", views_audit.audit_log, name="audit"),
]
