"""Who is calling: a personal token (`Authorization: Bearer kehu_…`) or the browser's login session."""

from django.conf import settings
from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from kehu.accounts.tokens import user_for_token

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(HttpBearer):
    """A token made with `kehu apitoken USERNAME`; the token of an inactive user fails."""

    def authenticate(self, request: HttpRequest, token: str):
        user = user_for_token(token)
        if user is not None:
            request.user = user  # views read request.user, whichever way the caller signed in
        return user


class SessionAuth(APIKeyCookie):
    """The login session of the web pages; writes need the CSRF token, as on the pages."""

    param_name = settings.SESSION_COOKIE_NAME

    def __call__(self, request: HttpRequest):
        # A caller that sends a token means the token: a wrong one must not fall back to the session.
        if request.headers.get("Authorization") or not request.user.is_authenticated:
            return None
        if (request.method not in SAFE_METHODS and not getattr(request, "_ninja_csrf_exempt", False)
                and check_csrf(request)):
            raise HttpError(403, "CSRF 校验失败：请刷新页面后重试，或改用 API 令牌")
        return request.user

    def authenticate(self, request: HttpRequest, key: str | None):  # pragma: no cover - __call__ decides
        return request.user if request.user.is_authenticated else None
