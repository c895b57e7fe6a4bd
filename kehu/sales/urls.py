from django.urls import path

from . import views

app_name = "sales"
urlpatterns = [
    path("add/<code:code>/", views.add_order, name="add"),
    path("status/<code:code>/<int:order_id>/", views.set_order_status, name="status"),
]
