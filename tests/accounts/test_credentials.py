"""Passwords through Django's validators and user names within limits, on every path that makes a user."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kehu.accounts.models import User

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(("password", "reason"), [("zhangwei2024", "相似"), ("1234567890123", "数字"),
                                                ("Short-1", r"太短|too short"), ("password1234", "常见")])
def test_it_refuses_a_weak_password_in_createuser(password, reason):
    with pytest.raises(CommandError, match=reason):
        call_command("createuser", "zhangwei2024", role="sales", password=password, stdout=StringIO())
    assert not User.objects.filter(username="zhangwei2024").exists()


@pytest.mark.parametrize("username", ["x" * 301, "a" * 33, "bad name!", "x"])
def test_it_refuses_a_user_name_out_of_limits_in_createuser(username):
    with pytest.raises(CommandError, match="用户名"):
        call_command("createuser", username, role="viewer", password="Viewer-pass-2024", stdout=StringIO())
    assert User.objects.count() == 0


def test_it_accepts_a_chinese_user_name_of_32_characters():
    call_command("createuser", "王" * 32, role="viewer", password="Viewer-pass-2024", stdout=StringIO())
    assert User.objects.filter(username="王" * 32).exists()


def test_it_refuses_a_password_equal_to_the_admin_name_in_init():
    with pytest.raises(CommandError, match="相似"):
        call_command("init", "--username", "shopowner1", "--password", "shopowner1", stdout=StringIO())
    assert not User.objects.filter(username="shopowner1").exists()


def test_the_settings_page_refuses_a_password_like_the_user_name_and_a_long_name(client, alice):
    client.force_login(alice)
    weak = client.post("/settings/users/new/", {
        "username": "liuxiuying", "password1": "liuxiuying1", "password2": "liuxiuying1", "role": "sales"})
    long = client.post("/settings/users/new/", {
        "username": "y" * 301, "password1": "Good-pass-for-y-2024", "password2": "Good-pass-for-y-2024",
        "role": "sales"})
    assert weak.status_code == 200 and long.status_code == 200  # the form again, with its errors
    assert "liuxiuying" not in set(User.objects.values_list("username", flat=True))
    assert User.objects.count() == 1  # only alice
    strong = client.post("/settings/users/new/", {
        "username": "liuxiuying", "password1": "Tea-garden-2024", "password2": "Tea-garden-2024",
        "role": "sales"})
    assert strong.status_code == 302 and User.objects.filter(username="liuxiuying").exists()


def test_the_settings_page_refuses_a_numeric_new_password(client, alice):
    client.force_login(alice)
    answer = client.post(f"/settings/users/{alice.pk}/password/",
                         {"new_password1": "20242024202420", "new_password2": "20242024202420"})
    assert answer.status_code == 200
    alice.refresh_from_db()
    assert not alice.check_password("20242024202420")
