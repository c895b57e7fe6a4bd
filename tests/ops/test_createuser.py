"""kehu createuser NAME --role ROLE."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kehu.accounts.models import Role, User

pytestmark = pytest.mark.django_db


def createuser(*args, **options) -> str:
    out = StringIO()
    call_command("createuser", *args, stdout=out, **options)
    return out.getvalue()


def test_it_creates_a_sales_rep_with_a_chinese_name():
    createuser("wangli", role="sales", password="Sales-pass-2024", name="王丽")
    user = User.objects.get(username="wangli")
    assert user.role == Role.SALES
    assert (user.last_name, user.first_name) == ("王", "丽")
    assert user.display_name == "王丽"
    assert user.check_password("Sales-pass-2024")
    assert not user.is_superuser


def test_it_splits_a_compound_surname():
    createuser("ouyang", role="viewer", password="Viewer-pass-2024", name="欧阳娜娜")
    user = User.objects.get(username="ouyang")
    assert (user.last_name, user.first_name) == ("欧阳", "娜娜")


def test_it_accepts_the_role_in_chinese_and_makes_admins_superusers():
    createuser("boss", role="管理员", password="Admin-pass-2024")
    user = User.objects.get(username="boss")
    assert user.role == Role.ADMIN and user.is_superuser and user.is_staff


def test_it_generates_a_password_when_none_is_given():
    output = createuser("kefu", role="service")
    password = next(line for line in output.splitlines() if "Password:" in line).split("Password:")[1].strip()
    assert User.objects.get(username="kefu").check_password(password)


def test_it_refuses_an_unknown_role():
    with pytest.raises(CommandError, match="未知角色"):
        createuser("x", role="boss")
    assert not User.objects.exists()


def test_it_refuses_a_taken_username(sam):
    with pytest.raises(CommandError, match="已存在"):
        createuser("SAM", role="sales")
