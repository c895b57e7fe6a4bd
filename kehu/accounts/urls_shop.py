from django.urls import path

from . import settings_views as views

app_name = "shop"
urlpatterns = [
    path("currency/", views.currency, name="currency"),
]
