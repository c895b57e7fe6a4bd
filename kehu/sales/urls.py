from django.urls import path

from . import views

app_name = "sales"
urlpatterns = [
    path("add/<code:code>/", views.add_order, name="add"),
]
