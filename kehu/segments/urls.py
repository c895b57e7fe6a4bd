from django.urls import path

from . import views

app_name = "segments"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("recompute/", views.recompute, name="recompute"),
    path("analysis/<slug:page>/", views.analysis, name="analysis"),
    path("movement/", views.movement, name="movement"),
    path("movement/customers/", views.movers, name="movers"),
    path("settings/", views.settings_page, name="settings"),
    path("export/<slug:page>/<slug:table>/", views.export, name="export"),
]
