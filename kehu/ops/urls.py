from django.urls import path

from . import views

app_name = "ops"
urlpatterns = [
    path("backups/", views.backup_list, name="backups"),
    path("backups/new/", views.backup_make, name="backup_make"),
    path("backups/verify/", views.backup_verify, name="backup_verify"),
    path("mail/", views.mail, name="mail"),
]
