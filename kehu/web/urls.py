from django.templatetags.static import static
from django.urls import path
from django.views.generic import RedirectView

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    # browsers ask for /favicon.ico on pages without a <link rel="icon"> (files, the API docs)
    path("favicon.ico", RedirectView.as_view(url=static("favicon.svg"), permanent=True)),
]
