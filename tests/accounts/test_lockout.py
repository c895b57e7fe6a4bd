"""A login lock-out that cannot be turned against a colleague: per user name and address, not extended by
attempts during it, a throttle per address across user names, lifted by the admin or `kehu unlock`."""

from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt
from django.core.management import call_command
from django.test import Client

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db

GUESSER, OWN_DESK = "10.0.0.66", "10.0.0.7"


def log_in(address: str, username: str, password: str = PASSWORD) -> int:
    answer = Client(REMOTE_ADDR=address).post("/accounts/login/", {"username": username, "password": password})
    return answer.status_code


def guess(address: str, username: str, times: int) -> None:
    for _ in range(times):
        log_in(address, username, "a-wrong-guess")


def test_a_guesser_locks_the_admin_out_of_the_guessers_address_only_however_long_they_try(alice, settings):
    guess(GUESSER, "alice", settings.KEHU_USER_FAILURE_LIMIT + 5)
    assert log_in(GUESSER, "alice") == 429
    assert log_in(OWN_DESK, "alice") == 302


def test_attempts_during_a_lock_out_do_not_extend_it(alice, settings):
    guess(GUESSER, "alice", settings.AXES_FAILURE_LIMIT)
    locked_at = AccessAttempt.objects.get().attempt_time
    guess(GUESSER, "alice", 10)  # keeps hammering while locked out
    attempt = AccessAttempt.objects.get()
    assert attempt.attempt_time == locked_at and attempt.failures_since_start == settings.AXES_FAILURE_LIMIT
    # once the cool-off time since the locking failure has passed, the right password works again
    AccessAttempt.objects.update(attempt_time=locked_at - settings.AXES_COOLOFF_TIME - timedelta(seconds=1))
    assert log_in(GUESSER, "alice") == 302


def test_an_address_is_throttled_across_user_names(alice, settings):
    settings.KEHU_ADDRESS_FAILURE_LIMIT = 12
    for n in range(6):
        guess(GUESSER, f"name{n}", 2)  # never the per-user limit, 12 failures in all
    assert log_in(GUESSER, "alice") == 429
    assert log_in(OWN_DESK, "alice") == 302


def test_kehu_unlock_lifts_a_lock_out(alice, settings):
    guess(GUESSER, "alice", settings.AXES_FAILURE_LIMIT)
    out = StringIO()
    call_command("unlock", "alice", stdout=out)
    assert "已解除" in out.getvalue()
    assert log_in(GUESSER, "alice") == 302


def test_the_admin_sees_the_failures_and_unlocks_from_the_users_page(alice, sam, settings):
    guess(GUESSER, "sam", settings.AXES_FAILURE_LIMIT)
    admin = Client(REMOTE_ADDR=OWN_DESK)
    admin.force_login(alice)
    users = admin.get("/settings/users/").content.decode()
    assert "近期登录失败" in users and f'data-failures="{settings.AXES_FAILURE_LIMIT}"' in users
    answer = admin.post(f"/settings/users/{sam.pk}/unlock/")
    assert answer.status_code == 302
    assert log_in(GUESSER, "sam") == 302
