"""API tokens like a grown-up API: they expire (90 days by default), can be listed and revoked from the
command line and from the user's page, die with a password change or deactivation, do not work while
their account is locked out, and failed tokens throttle their address."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from kehu.accounts.models import ApiToken
from kehu.accounts.tokens import issue_token
from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def api(raw: str, address: str = "127.0.0.1") -> int:
    return Client(REMOTE_ADDR=address, headers={"Authorization": f"Bearer {raw}"}).get("/api/me").status_code


def command(*args) -> str:
    out = StringIO()
    call_command("apitoken", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def test_a_token_lasts_90_days_by_default_and_then_stops(sam):
    token, raw = issue_token(sam)
    assert abs(token.expires_at - (timezone.now() + timedelta(days=90))) < timedelta(minutes=1)
    assert api(raw) == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert api(raw) == 401


def test_the_command_sets_the_expiry_lists_and_revokes(sam):
    raw = command("sam", "--name", "ERP", "--days", "7").strip()
    token = ApiToken.objects.get()
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)
    assert api(raw) == 200
    listing = command("--list")
    assert token.prefix in listing and "ERP" in listing and "有效" in listing
    assert timezone.localtime(ApiToken.objects.get().last_used_at).strftime("%Y-%m-%d %H:%M") in listing
    assert "已撤销" in command("--revoke", token.prefix)
    assert api(raw) == 401
    assert "已撤销（手动撤销）" in command("--list", "sam")


def test_a_password_change_revokes_the_tokens(sam):
    _, raw = issue_token(sam)
    sam.set_password("A-brand-new-pass-2024")
    sam.save()
    assert api(raw) == 401
    assert ApiToken.objects.get().revoked_reason == "密码已更改"


def test_a_password_hash_upgrade_on_login_keeps_the_tokens(real_password_hashing, sam):
    from django.contrib.auth.hashers import make_password

    sam.password = make_password(PASSWORD, hasher="pbkdf2_sha256")  # an older hash, upgraded at login
    sam.save()
    _, raw = issue_token(sam)
    assert Client().post("/accounts/login/", {"username": "sam", "password": PASSWORD}).status_code == 302
    sam.refresh_from_db()
    assert sam.password.startswith("argon2") and api(raw) == 200


def test_deactivation_revokes_the_tokens_for_good(sam):
    _, raw = issue_token(sam)
    sam.is_active = False
    sam.save()
    sam.is_active = True
    sam.save()
    assert api(raw) == 401


def test_a_locked_out_accounts_token_stops_working_during_the_lock_out(sam, settings):
    _, raw = issue_token(sam)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        Client().post("/accounts/login/", {"username": "sam", "password": "a-wrong-guess"})
    assert api(raw) == 429
    call_command("unlock", "sam", stdout=StringIO())
    assert api(raw) == 200


def test_failed_tokens_throttle_their_address(sam, settings):
    settings.KEHU_ADDRESS_FAILURE_LIMIT = 10
    _, raw = issue_token(sam)
    answers = [api(f"kehu_guess{n}", "10.0.0.66") for n in range(10)]
    assert answers == [401] * 10
    assert api(raw, "10.0.0.66") == 429  # even a good token, from the throttled address
    assert api(raw, "10.0.0.7") == 200


def test_the_users_page_lists_the_tokens_with_last_use_and_revokes_one(alice, sam):
    token, raw = issue_token(sam, "ERP 同步")
    api(raw)
    admin = Client()
    admin.force_login(alice)
    page = admin.get(f"/settings/users/{sam.pk}/").content.decode()
    used = timezone.localtime(ApiToken.objects.get().last_used_at)
    assert token.prefix in page and "ERP 同步" in page and "撤销令牌" in page
    assert f"{used:%H:%M}" in page
    answer = admin.post(f"/settings/users/{sam.pk}/tokens/{token.pk}/revoke/")
    assert answer.status_code == 302
    assert api(raw) == 401
