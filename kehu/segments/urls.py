from django.urls import path

from . import rule_views, views

app_name = "segments"

urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("recompute/", views.recompute, name="recompute"),
    path("runs/<str:job>/", views.run_status, name="run"),
    path("analysis/<slug:page>/", views.analysis, name="analysis"),
    path("movement/", views.movement, name="movement"),
    path("movement/customers/", views.movers, name="movers"),
    path("risk/", views.risk_list, name="risk"),
    path("risk/export/", views.risk_export, name="risk_export"),
    path("settings/", views.settings_page, name="settings"),
    path("settings/age-bands/", views.age_bands, name="age_bands"),
    path("export/<slug:page>/<slug:table>/", views.export, name="export"),
    path("rules/", rule_views.rule_list, name="rules"),
    path("rules/new/", rule_views.rule_create, name="rule_create"),
    path("rules/<int:pk>/edit/", rule_views.rule_edit, name="rule_edit"),
    path("rules/<int:pk>/delete/", rule_views.rule_delete, name="rule_delete"),
]
