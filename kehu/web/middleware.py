from django.conf import settings
from django.middleware.locale import LocaleMiddleware
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
