from django.urls import path

from . import views

app_name = "engagement"
urlpatterns = [
    path("follow-ups/", views.my_follow_ups, name="my_follow_ups"),
    path("follow-ups/<int:pk>/done/", views.follow_up_done, name="follow_up_done"),
    path("<code:code>/communications/add/", views.add_communication, name="add_communication"),
    path("<code:code>/follow-ups/add/", views.add_follow_up, name="add_follow_up"),
    path("<code:code>/feedback/add/", views.add_feedback, name="add_feedback"),
    path("<code:code>/preferences/", views.edit_preferences, name="edit_preferences"),
]
