from django.urls import path

from . import settings_views as views

app_name = "users"
urlpatterns = [
    path("", views.user_list, name="list"),
    path("new/", views.user_create, name="new"),
    path("<int:pk>/", views.user_detail, name="detail"),
    path("<int:pk>/password/", views.user_password, name="password"),
    path("<int:pk>/active/", views.user_active, name="active"),
    path("<int:pk>/unlock/", views.user_unlock, name="unlock"),
    path("<int:pk>/tokens/<int:token_pk>/revoke/", views.token_revoke, name="token_revoke"),
]
