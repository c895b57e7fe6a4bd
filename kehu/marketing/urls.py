from django.urls import path

from . import views

app_name = "marketing"
urlpatterns = [
    path("", views.target_lists, name="target_lists"),
    path("lists/new/", views.target_list_new, name="target_list_new"),
    path("lists/<int:pk>/", views.target_list, name="target_list"),
    path("lists/<int:pk>/export.<str:fmt>", views.target_list_export, name="target_list_export"),
    path("campaigns/", views.campaign_list, name="campaigns"),
    path("campaigns/new/", views.campaign_new, name="campaign_new"),
    path("campaigns/<int:pk>/", views.campaign, name="campaign"),
    path("campaigns/<int:pk>/send/", views.campaign_send, name="campaign_send"),
    path("campaigns/<int:pk>/sending/<str:send>/", views.campaign_sending, name="campaign_sending"),
    path("campaigns/<int:pk>/sms.csv", views.campaign_sms_export, name="campaign_sms_export"),
    path("campaigns/<int:pk>/sms/sent/", views.campaign_sms_sent, name="campaign_sms_sent"),
    path("campaigns/<int:pk>/contacts/<int:contact_pk>/done/", views.campaign_mark, name="campaign_mark"),
    path("pool/", views.pool_page, name="pool"),
    path("pool/<code:code>/claim/", views.pool_claim, name="pool_claim"),
]
