"""The users page's rules: nobody locks the shop out of its own settings."""

import importlib

import pytest
from django.apps import apps

from kehu.accounts.models import AuditEntry, Role, User
from kehu.customers.models import Customer
from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db


def test_an_admin_cannot_deactivate_themselves_nor_demote_the_last_admin(alice, mary):
    client = client_for(alice)
    answer = client.post(f"/settings/users/{alice.pk}/active/", {"active": "0"}, follow=True)
    assert "不能停用自己的账号" in answer.content.decode()
    page = client.post(f"/settings/users/{alice.pk}/", {"last_name": "王", "first_name": "丽", "email": "",
                                                        "role": "manager"})
    assert page.status_code == 200 and "唯一启用的管理员" in page.content.decode()
    alice.refresh_from_db()
    assert alice.is_active and alice.role == Role.ADMIN


def test_a_role_change_is_audited_and_follows_the_staff_flags(alice, mary):
    client = client_for(alice)
    client.post(f"/settings/users/{mary.pk}/", {"last_name": "马", "first_name": "丽", "email": "", "role": "admin"})
    mary.refresh_from_db()
    assert mary.role == Role.ADMIN and mary.is_staff and mary.is_superuser
    entry = AuditEntry.objects.get(target_type="user", action="update")
    assert entry.details["changes"] == {"role": ["manager", "admin"]} and entry.username == "alice"
    assert User.objects.get(pk=mary.pk).role == "admin"


def test_the_migration_fills_the_month_day_of_stored_birthdays(db):
    import datetime

    c = make_customer(birthday=datetime.date(1979, 7, 4))
    Customer.objects.filter(pk=c.pk).update(birthday_md=None)
    migration = importlib.import_module("kehu.customers.migrations.0003_customer_birthday_md")
    migration.fill(apps, None)
    assert Customer.objects.get(pk=c.pk).birthday_md == 704
