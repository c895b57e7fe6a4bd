from django.urls import path

from . import views

app_name = "marketing"
urlpatterns = [
    path("", views.target_lists, name="target_lists"),
    path("lists/new/", views.target_list_new, name="target_list_new"),
    path("lists/<int:pk>/", views.target_list, name="target_list"),
    path("lists/<int:pk>/export.<str:fmt>", views.target_list_export, name="target_list_export"),
]
