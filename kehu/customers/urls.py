from django.urls import path

from . import health_views, live, lookup_views, merge_views, privacy_views, views

app_name = "customers"
urlpatterns = [
    path("", views.customer_list, name="list"),
    path("new/", views.customer_create, name="create"),
    path("views/", views.saved_view_save, name="saved_view_save"),
    path("views/<int:pk>/delete/", views.saved_view_delete, name="saved_view_delete"),
    path("lookup/", lookup_views.caller_lookup, name="lookup"),
    path("health/", health_views.health, name="health"),
    path("health/assign-owner/", health_views.assign_owner, name="health_assign_owner"),
    path("<code:code>/", views.customer_detail, name="detail"),
    path("<code:code>/version/", live.customer_version, name="version"),
    path("<code:code>/edit/", views.customer_edit, name="edit"),
    path("<code:code>/delete/", views.customer_delete, name="delete"),
    path("<code:code>/merge/", merge_views.merge, name="merge"),
    path("<code:code>/privacy/", privacy_views.privacy_page, name="privacy"),
    path("<code:code>/privacy/export.<str:fmt>", privacy_views.privacy_export, name="privacy_export"),
    path("<code:code>/privacy/erase/", privacy_views.privacy_erase, name="privacy_erase"),
]
