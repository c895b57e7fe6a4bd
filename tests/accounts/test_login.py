"""Logging in and out, in Chinese; django-axes locks out a guesser."""

import pytest
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def test_it_shows_the_login_page_in_chinese(client):
    html = client.get("/accounts/login/").content.decode()
    assert "登录" in html and "用户名" in html and "密码" in html


def test_it_logs_in_and_goes_home(client, alice):
    r = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert r.status_code == 302 and r.url == "/"
    home = client.get("/").content.decode()
    assert "王丽" in home and "管理员" in home


def test_it_returns_to_the_page_asked_for(client, alice):
    r = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD, "next": "/customers/"})
    assert r.url == "/customers/"


def test_it_says_in_chinese_when_the_password_is_wrong(client, alice):
    r = client.post("/accounts/login/", {"username": "alice", "password": "wrong-password"})
    assert r.status_code == 200
    assert "用户名或密码不正确" in r.content.decode()


def test_it_locks_out_after_too_many_failures(alice, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT):
        client.post("/accounts/login/", {"username": "alice", "password": "guess"})
    r = client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    assert r.status_code == 429
    assert "登录失败次数过多" in r.content.decode()
    assert "15 分钟后再试" in r.content.decode()
    assert "_auth_user_id" not in client.session


def test_it_logs_out_with_a_post(client, alice):
    client.post("/accounts/login/", {"username": "alice", "password": PASSWORD})
    r = client.post("/accounts/logout/")
    assert r.status_code == 302 and r.url == "/accounts/login/"
    assert client.get("/").status_code == 302
