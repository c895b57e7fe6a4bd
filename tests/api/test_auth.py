import io

import pytest
from django.core.management import call_command
from django.test import Client

from kehu.accounts.models import ApiToken
from kehu.accounts.tokens import issue_token

pytestmark = pytest.mark.django_db


def test_it_knows_the_caller_by_token(api_as, sam):
    response = api_as(sam).get("/api/me")
    assert response.status_code == 200
    assert response.json()["username"] == "sam"
    assert response.json()["role"] == "sales"


def test_it_refuses_a_missing_token(alice):
    response = Client().get("/api/customers")
    assert response.status_code == 401
    assert "令牌" in response.json()["detail"]


def test_it_refuses_a_wrong_token(alice):
    issue_token(alice)
    response = Client(headers={"Authorization": "Bearer kehu_not-a-real-token"}).get("/api/customers")
    assert response.status_code == 401


def test_it_refuses_a_wrong_token_even_with_a_session(alice):
    client = Client(headers={"Authorization": "Bearer kehu_not-a-real-token"})
    client.force_login(alice)
    assert client.get("/api/me").status_code == 401


def test_it_refuses_the_token_of_an_inactive_user(api_as, sam):
    client = api_as(sam)
    sam.is_active = False
    sam.save()
    assert client.get("/api/me").status_code == 401


def test_it_keeps_only_a_hash_of_the_token(alice):
    token, raw = issue_token(alice, "ERP")
    token.refresh_from_db()
    assert raw not in (token.key_hash, token.prefix, token.name)
    assert raw.startswith(token.prefix)
    assert len(token.key_hash) == 64


def test_it_records_when_a_token_was_last_used(alice):
    token, raw = issue_token(alice)
    Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/me")
    token.refresh_from_db()
    assert token.last_used_at is not None


def test_the_command_prints_a_token_that_works(sam):
    out = io.StringIO()
    call_command("apitoken", "sam", "--name", "ERP 同步", stdout=out, stderr=io.StringIO())
    raw = out.getvalue().strip()
    assert ApiToken.objects.get(user=sam).name == "ERP 同步"
    response = Client(headers={"Authorization": f"Bearer {raw}"}).get("/api/me")
    assert response.json()["username"] == "sam"


def test_the_browser_session_reads_without_a_token(mary, zhang):
    client = Client()
    client.force_login(mary)
    assert client.get(f"/api/customers/{zhang.code}").json()["name"] == "张伟"


def test_a_session_write_needs_the_csrf_token(mary):
    client = Client(enforce_csrf_checks=True)
    client.force_login(mary)
    response = client.post("/api/customers", {"name": "王芳"}, content_type="application/json")
    assert response.status_code == 403
    client.cookies["csrftoken"] = "k" * 32  # what the pages' CSRF cookie holds
    response = client.post("/api/customers", {"name": "王芳"}, content_type="application/json",
                           headers={"X-CSRFToken": "k" * 32})
    assert response.status_code == 201
