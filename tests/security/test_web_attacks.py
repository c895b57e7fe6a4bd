"""Hostile browsers: CSRF on every POST the URLconf offers, XSS in every text field, password guessing."""

import re

import pytest
from django.contrib.admindocs.views import extract_views_from_urlpatterns, simplify_regex
from django.test import Client
from django.urls import Resolver404, get_resolver, resolve

from kehu.customers.models import Customer, CustomField, Tag
from tests.conftest import PASSWORD, make_customer

pytestmark = pytest.mark.django_db


def every_url(code: str) -> list[str]:
    """Each URL pattern once, with its parameters filled in so that it resolves."""
    fill = {"code": code, "fmt": "csv", "kind": "customers", "job": "x"}
    urls = set()
    for _view, regex, _ns, _name in extract_views_from_urlpatterns(get_resolver().url_patterns):
        path = simplify_regex(regex)
        path = re.sub(r"<(\w+)>", lambda m: fill.get(m.group(1), "1"), path)
        try:
            resolve(path)
        except Resolver404:
            continue
        urls.add(path)
    return sorted(urls)


def test_every_post_without_a_csrf_token_is_refused(alice):
    zhang = make_customer(name="张伟")
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    urls = every_url(zhang.code)
    assert len(urls) > 40
    print(f"CSRF: {len(urls)} URLs posted to")
    accepted = {}
    for url in urls:
        response = client.post(url, {"name": "x", "owner": alice.pk, "confirm": "1"})
        # 405 from the API: no operation for POST there, nothing ran (the API's own CSRF check is for writes)
        if response.status_code != 403 and not (url.startswith("/api/") and response.status_code == 405):
            accepted[url] = response.status_code
    assert accepted == {}, f"POST without CSRF token accepted on {accepted}"
    assert Customer.objects.filter(pk=zhang.pk).exists()


def test_the_csrf_check_does_not_block_a_real_form(alice):
    client = Client(enforce_csrf_checks=True)
    client.force_login(alice)
    page = client.get("/customers/new/")
    token = page.cookies["csrftoken"].value
    response = client.post("/customers/new/", {"name": "带令牌", "kind": "person", "csrfmiddlewaretoken": token,
                                                "registered_at": "2024-01-01T10:00"})
    assert response.status_code == 302


XSS = '<script>alert("x")</script>'
XSS_SHORT = "<script>x</script>"  # fits the 20-character place fields
TEXT_FIELDS = ["name", "wechat", "province", "city", "district", "address", "source", "company", "industry",
               "notes"]
SHORT = {"province", "city", "district", "industry"}


@pytest.mark.parametrize("field", [*TEXT_FIELDS, "tag", "custom_field"])
@pytest.mark.parametrize("page", ["detail", "list", "edit"])
def test_xss_in_every_text_field_is_rendered_escaped(client, alice, field, page):
    payload = XSS_SHORT if field in SHORT or field == "tag" else XSS
    customer = make_customer(name="安全客户", code="XSS1")
    if field == "tag":
        customer.tags.add(Tag.objects.create(name=payload))
    elif field == "custom_field":
        CustomField.objects.create(key="memo", label="说明")
        customer.extra = {"memo": payload}
        customer.save()
    else:
        setattr(customer, field, payload)
        customer.save()
    client.force_login(alice)
    url = {"detail": "/customers/XSS1/", "list": "/customers/?q=", "edit": "/customers/XSS1/edit/"}[page]
    body = client.get(url).content.decode()
    assert payload not in body
    shown = {"list": {"name", "tag", "province", "city", "company"}, "detail": set(TEXT_FIELDS) - {"industry"}}
    if field in shown.get(page, {*TEXT_FIELDS, "custom_field"}):  # industry is shown for companies only
        assert payload.replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;") in body


def test_xss_in_the_live_banner_is_escaped(client, mary, alice):
    alice.last_name, alice.first_name = "<script>x", "</script>"
    alice.save()
    customer = make_customer(name="横幅客户")
    Customer.objects.filter(pk=customer.pk).update(version=2, updated_by=alice)
    client.force_login(mary)
    body = client.get(f"/customers/{customer.code}/version/?v=1").content.decode()
    assert "<script>x</script>" not in body and "&lt;script&gt;x" in body


def test_rotating_the_address_does_not_help_a_password_guesser(alice, settings):
    # A lock-out is per user name and address (kehu/accounts/lockout.py); over all addresses together a
    # user name takes KEHU_USER_FAILURE_LIMIT failures, then it is locked everywhere.
    for attempt in range(settings.KEHU_USER_FAILURE_LIMIT):
        Client(REMOTE_ADDR=f"10.0.0.{attempt + 1}").post("/accounts/login/", {"username": "alice",
                                                                             "password": "guess"})
    client = Client(REMOTE_ADDR="10.0.0.99")
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 429
    assert "_auth_user_id" not in client.session


def test_four_failures_do_not_lock_the_account(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        client.post("/accounts/login/", {"username": "alice", "password": "guess"})
    response = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 302
