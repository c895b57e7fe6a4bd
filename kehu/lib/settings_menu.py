"""The settings menu (系统设置): every app that has a settings page registers it here, and the hub lists the
pages a user may open. Whoever hosts a page registers it (in its AppConfig.ready()), so a new app adds its
page without touching the hub:

    settings_menu.register(SettingsPage("currency", _("币种与汇率"), "money:settings", _("…"), order=60))

`managers=True` opens a page to managers as well as admins; every other role is refused (403). Views enforce
it with `@settings_view(managers=…)`: the menu only hides what the view refuses anyway.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.urls import reverse
from django.utils.translation import gettext as _

ADMIN, MANAGER = "admin", "manager"


@dataclass(frozen=True)
class SettingsPage:
    key: str
    label: str  # lazy translations, shown in the user's language
    url_name: str
    description: str = ""
    managers: bool = False  # managers may open it too (else admins only)
    order: int = 100
    args: tuple = ()  # of the URL

    def url(self) -> str:
        return reverse(self.url_name, args=self.args)


_pages: dict[str, SettingsPage] = {}


def register(page: SettingsPage) -> None:
    _pages[page.key] = page


def allowed(user, managers: bool = False) -> bool:
    role = getattr(user, "role", "")
    return bool(user.is_authenticated and user.is_active and (role == ADMIN or (managers and role == MANAGER)))


def pages_for(user) -> list[SettingsPage]:
    """The pages `user` may open, in menu order."""
    return sorted((p for p in _pages.values() if allowed(user, p.managers)), key=lambda p: (p.order, p.key))


def settings_view(managers: bool = False) -> Callable:
    """A view only admins (and managers, if `managers`) may open, GET and POST alike."""

    def wrap(view: Callable) -> Callable:
        @login_required
        @wraps(view)
        def checked(request, *args, **kwargs):
            if not allowed(request.user, managers):
                raise PermissionDenied(_("只有管理员可以修改这项设置") if not managers
                                       else _("只有管理员和经理可以修改这项设置"))
            return view(request, *args, **kwargs)

        return checked

    return wrap
