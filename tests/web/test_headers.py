"""Headers and deployment settings: a Content-Security-Policy of kehu's own files only (so no inline script,
event handler or style in any template), no-store on pages and API answers, Secure cookies and HSTS behind a
TLS proxy, and no `testserver` among the hosts kehu answers to."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import Client, RequestFactory

from kehu.accounts.lockout import client_address
from kehu.accounts.tokens import issue_token
from tests.conftest import make_customer

pytestmark = pytest.mark.django_db
KEHU = Path(__file__).resolve().parents[2] / "kehu"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def test_pages_and_api_answers_carry_the_policy_and_no_store(alice):
    customer = make_customer(name="张伟", mobile="+8613812345678")
    web = Client()
    web.force_login(alice)
    _, raw = issue_token(alice)
    api = Client(headers={"Authorization": f"Bearer {raw}"})
    for answer in (web.get("/"), web.get(f"/customers/{customer.code}/"), web.get("/customers/"),
                   api.get("/api/customers"), api.get(f"/api/customers/{customer.code}"),
                   Client().get("/accounts/login/")):
        assert answer.status_code == 200
        assert answer["Content-Security-Policy"] == CSP
        assert "no-store" in answer["Cache-Control"] and "private" in answer["Cache-Control"]


def test_no_template_has_an_inline_script_an_event_handler_or_a_style_attribute():
    found = []
    for template in KEHU.glob("*/templates/**/*.html"):
        text = template.read_text()
        for pattern in (r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", r"\son[a-z]+\s*=",
                        r"\sstyle\s*=", r"<style", r"javascript:", r"hx-on"):
            found += [f"{template.relative_to(KEHU)}: {m.group(0)}" for m in re.finditer(pattern, text)]
    assert found == []


def settings_under(env: dict) -> dict:
    code = ("from kehu import settings as s; import json; print(json.dumps({k: getattr(s, k, None) for k in "
            "['ALLOWED_HOSTS', 'SESSION_COOKIE_SECURE', 'CSRF_COOKIE_SECURE', 'SECURE_HSTS_SECONDS', "
            "'SECURE_PROXY_SSL_HEADER', 'SECURE_SSL_REDIRECT']}))")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_")}
    run = subprocess.run([sys.executable, "-c", code], env={**clean, "KEHU_HOME": str(env.pop("home")), **env},
                         capture_output=True, text=True, check=True)
    return json.loads(run.stdout)


def test_the_default_hosts_are_loopback_only_and_nothing_requires_https(tmp_path):
    found = settings_under({"home": tmp_path})
    assert found["ALLOWED_HOSTS"] == ["127.0.0.1", "localhost", "[::1]"]
    assert not found["SESSION_COOKIE_SECURE"] and not found["SECURE_HSTS_SECONDS"]
    assert found["SECURE_PROXY_SSL_HEADER"] is None


def test_behind_a_tls_proxy_cookies_are_secure_with_hsts(tmp_path):
    found = settings_under({"home": tmp_path, "KEHU_SECURE": "1", "KEHU_BEHIND_PROXY": "1"})
    assert found["SESSION_COOKIE_SECURE"] and found["CSRF_COOKIE_SECURE"] and found["SECURE_SSL_REDIRECT"]
    assert found["SECURE_HSTS_SECONDS"] == 31536000
    assert found["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]


def test_behind_a_proxy_the_lock_out_uses_the_address_the_proxy_saw(settings):
    request = RequestFactory().get("/", REMOTE_ADDR="10.0.0.1", HTTP_X_FORWARDED_FOR="6.6.6.6, 203.0.113.9")
    assert client_address(request) == "10.0.0.1"  # not behind a proxy: the header is the client's own words
    settings.KEHU_BEHIND_PROXY = True
    assert client_address(request) == "203.0.113.9"  # the entry the proxy appended, not the forged one
