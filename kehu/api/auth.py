"""Who is calling: a personal token (`Authorization: Bearer kehu_…`) or the browser's login session."""

from functools import wraps

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, JsonResponse
from ninja.errors import HttpError
from ninja.security import APIKeyCookie, HttpBearer
from ninja.utils import check_csrf

from kehu.accounts.lockout import locks, record_token_failure
from kehu.accounts.tokens import user_for_token

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


class TokenAuth(HttpBearer):
    """A live token made with `kehu apitoken USERNAME`. A revoked or expired token, or one of an inactive user,
    fails and counts against the caller's address; while the address is throttled, or the user is locked
    out of logging in from it, no token works from there (kehu/accounts/lockout.py)."""

    def authenticate(self, request: HttpRequest, token: str):
        user = user_for_token(token)
        held = locks(request, user.username if user else None)
        if held.address:
            raise HttpError(429, "登录失败次数过多，此地址已被暂时限制，请稍后再试或联系管理员解锁。"
                                 "Too many failed attempts from this address; try again later.")
        if user is None:
            record_token_failure(request)
            return None
        if held.user:
            raise HttpError(429, "此账号登录失败次数过多，已被暂时锁定，锁定期间令牌不能使用。"
                                 "This account is locked out; its tokens do not work until the lock-out ends.")
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


def signed_in_only(view):
    """The API docs and schema: for a person logged in, or a caller with a live token (checked, throttled
    and counted like any API call); anyone else is sent to the login page."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args, **kwargs):
        if not request.user.is_authenticated:
            try:
                caller = TokenAuth()(request) if request.headers.get("Authorization") else None
            except HttpError as exc:
                return JsonResponse({"detail": exc.message}, status=exc.status_code)
            if caller is None:
                return redirect_to_login(request.get_full_path())
        return view(request, *args, **kwargs)

    return wrapped
