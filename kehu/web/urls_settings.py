from django.urls import path

from . import settings_views as views

urlpatterns = [
    path("", views.hub, name="settings"),
    path("<slug:key>/", views.table_list, name="settings_table"),
    path("<slug:key>/<int:pk>/", views.table_edit, name="settings_table_edit"),
    path("<slug:key>/<int:pk>/delete/", views.table_delete, name="settings_table_delete"),
]
