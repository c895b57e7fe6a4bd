from django.urls import path

from . import views

app_name = "exchange"
urlpatterns = [
    path("import/", views.import_start, name="import"),
    path("import/mapping/", views.import_mapping, name="mapping"),
    path("import/progress/<str:job>/", views.import_progress, name="progress"),
    path("import/templates/", views.mapping_template_upload, name="mapping_template_upload"),
    path("import/templates/<int:pk>.json", views.mapping_template_download, name="mapping_template"),
    path("import/<int:pk>/", views.batch_detail, name="batch"),
    path("import/<int:pk>/errors.xlsx", views.batch_report, name="batch_report"),
    path("import/<int:pk>/revert/", views.batch_revert, name="batch_revert"),
    path("customers.<str:fmt>", views.customers_export, name="customers_export"),
    path("orders.<str:fmt>", views.orders_export, name="orders_export"),
    path("report.xlsx", views.report_export, name="report_export"),
    path("exports/<str:job>/", views.export_job, name="export_job"),
    path("exports/<str:job>/download/", views.export_download, name="export_download"),
    path("templates/<str:kind>.xlsx", views.template_download, name="template"),
]
