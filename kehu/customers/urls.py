from django.urls import path

from . import health_views, live, lookup_views, merge_views, privacy_views, views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("lookup/", lookup_views.caller_lookup, name="lookup"),
    path("health/", health_views.health, name="health"),
    path("health/assign-owner/", health_views.assign_owner, name="health_assign_owner"),
    path("<str:code>/", views.customer_detail, name="detail"),
    path("<str:code>/version/", live.customer_version, name="version"),
    path("<str:code>/edit/", views.customer_edit, name="edit"),
    path("<str:code>/delete/", views.customer_delete, name="delete"),
    path("<str:code>/merge/", merge_views.merge, name="merge"),
    path("<str:code>/privacy/", privacy_views.privacy_page, name="privacy"),
    path("<str:code>/privacy/export.<str:fmt>", privacy_views.privacy_export, name="privacy_export"),
    path("<str:code>/privacy/erase/", privacy_views.privacy_erase, name="privacy_erase"),
]
