"""kehu init: the store is migrated, one admin made, and a second run changes nothing."""

from io import StringIO

import pytest
from django.core.management import call_command

from kehu.accounts.models import Role, User
from kehu.engagement.models import FeedbackDimension

pytestmark = pytest.mark.django_db


def run_init(**options) -> str:
    out = StringIO()
    call_command("init", stdout=out, **options)
    return out.getvalue()


def test_it_creates_one_admin_with_the_given_password():
    output = run_init(password="Shop-Owner-2024")
    admin = User.objects.get()
    assert admin.username == "admin"
    assert admin.role == Role.ADMIN and admin.is_superuser and admin.is_staff
    assert admin.check_password("Shop-Owner-2024")
    assert "Shop-Owner-2024" not in output  # a given password is not echoed
    assert "已创建管理员" in output


def test_it_generates_and_prints_a_password_once():
    output = run_init(username="boss")
    admin = User.objects.get(username="boss")
    line = next(line for line in output.splitlines() if "Password:" in line)
    password = line.split("Password:")[1].strip()
    assert len(password) >= 16
    assert admin.check_password(password)
    assert "只显示这一次" in output


def test_it_is_idempotent():
    run_init(password="Shop-Owner-2024")
    second = run_init(password="Another-pass-2024")
    assert User.objects.count() == 1
    assert User.objects.get().check_password("Shop-Owner-2024")
    assert "无需更改" in second and "nothing changed" in second


def test_it_creates_no_admin_when_one_exists(alice):
    output = run_init()
    assert list(User.objects.values_list("username", flat=True)) == ["alice"]
    assert "alice" in output


def test_it_adds_default_feedback_dimensions_only_to_an_empty_store():
    run_init(password="Shop-Owner-2024")
    assert list(FeedbackDimension.objects.values_list("name", flat=True)) == ["产品质量", "服务态度", "环境", "速度"]
    FeedbackDimension.objects.filter(name="环境").delete()
    run_init()
    assert FeedbackDimension.objects.count() == 3  # the shop's own choice stands


def test_it_refuses_a_weak_password():
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="密码不符合要求"):
        run_init(password="123")
    assert not User.objects.exists()
