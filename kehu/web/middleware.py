from django.conf import settings
from django.http import JsonResponse
from django.middleware.locale import LocaleMiddleware
from django.shortcuts import render
from django.utils import translation
from django.utils.cache import add_never_cache_headers


class ChosenLanguageMiddleware(LocaleMiddleware):
    """简体中文 unless the person picked another language in the header; the browser's language is not used."""

    def process_request(self, request):
        chosen = request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME, "")
        if chosen not in dict(settings.LANGUAGES):
            chosen = settings.LANGUAGE_CODE
        translation.activate(chosen)
        request.LANGUAGE_CODE = translation.get_language()


class PrivateResponseMiddleware:
    """Two headers on every page and API answer (static files are served before this, by WhiteNoise):

    - Content-Security-Policy (settings.KEHU_CSP): scripts, styles, images and requests from kehu itself
      only, no inline script or event handler, no framing, forms post only to kehu;
    - Cache-Control: no-store, because pages and answers carry customers' contacts, which must not stay
      in a browser's or a proxy's cache."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response.headers.setdefault("Content-Security-Policy", settings.KEHU_CSP)
        add_never_cache_headers(response)
        return response


MULTIPART_ALLOWANCE = 1 << 20  # the form's other fields and the multipart boundaries around the file


def upload_limit_bytes() -> int:
    """The largest request body a page or the API accepts: the upload limit and a little for the form around it."""
    return settings.KEHU_UPLOAD_MAX_MB * (1 << 20) + MULTIPART_ALLOWANCE


def body_too_large(request) -> bool:
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return False
    return length > upload_limit_bytes()


class UploadLimitMiddleware:
    """A request whose body is larger than KEHU_UPLOAD_MAX_MB gets a 413 page (JSON under /api/), and its body is
    never parsed: nothing is written to the uploads folder, no form sees it. `kehu serve` caps bodies at twice the
    limit in waitress itself, so a larger one is refused before it is even received."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if body_too_large(request):
            return too_large_response(request)
        return self.get_response(request)


def too_large_response(request):
    from django.utils.translation import gettext as _

    limit = settings.KEHU_UPLOAD_MAX_MB
    message = _("文件太大：上传的文件不能超过 %(limit)s MB。请把表格拆成几个较小的文件分别导入，"
                "或删除不需要的列和工作表后再上传。") % {"limit": limit}
    if request.path.startswith("/api/"):
        return JsonResponse({"detail": message}, status=413, json_dumps_params={"ensure_ascii": False})
    return render(request, "413.html", {"message": message, "limit": limit}, status=413)
