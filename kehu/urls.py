from django.conf import settings
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
    # 系统设置: pages of their own apps first, then the hub and its simple tables (/settings/<table>/)
    path("settings/users/", include("kehu.accounts.urls_settings")),
    path("settings/shop/", include("kehu.accounts.urls_shop")),
    path("settings/system/", include("kehu.ops.urls")),
    path("settings/", include("kehu.web.urls_settings")),
]
if settings.KEHU_ADMIN_PATH:  # Django's admin, for superusers, at a path nothing links to
    urlpatterns.append(path(f"{settings.KEHU_ADMIN_PATH}/", admin.site.urls))

handler400 = "kehu.api.errors.bad_request"
