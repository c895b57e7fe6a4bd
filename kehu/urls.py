from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("kehu.web.urls")),
    path("accounts/", include("kehu.accounts.urls")),
    path("audit/", include("kehu.accounts.urls_audit")),
    path("customers/", include("kehu.customers.urls")),
    path("orders/", include("kehu.sales.urls")),
    path("engagement/", include("kehu.engagement.urls")),
    path("exchange/", include("kehu.exchange.urls")),
    path("segments/", include("kehu.segments.urls")),
    path("marketing/", include("kehu.marketing.urls")),
    path("api/", include("kehu.api.urls")),
    path("i18n/", include("django.conf.urls.i18n")),
    path("settings/", admin.site.urls),
]

handler400 = "kehu.api.errors.bad_request"
