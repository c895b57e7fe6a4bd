"""No plaintext personal data outside the encrypted fields (issue 11, item 6).

A day's work on the demo shop — searches for full mobiles and e-mails by every role, exports with such
filters (pages and command), caller lookups, duplicate probes by a sales rep on the web, the API and an
import, edits, a merge, a campaign, a PIPL export — and then every column of every table, read through
Django's own connection, holds none of the demo mobiles, e-mails or WeChat IDs in plaintext. A PIPL erase
then redacts the audit entries and the filter strings that mention the person.
"""

import json

import pytest
from django.core.management import call_command
from django.db import connection
from django.test import Client

from kehu.accounts.models import AuditAction, AuditEntry
from kehu.customers import privacy
from kehu.customers.merge import merge_customers
from kehu.customers.models import Customer
from kehu.engagement.models import Consent
from kehu.exchange.importer import import_file
from kehu.marketing import campaigns
from kehu.marketing.models import Campaign, TargetList
from tests.api.conftest import token_client
from tests.exchange.helpers import write_xlsx


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _secrets() -> dict[str, str]:
    """Every contact value of every customer as it could be typed: 13812345678, +8613812345678, e-mail, WeChat."""
    found = {}
    for c in Customer.objects.all():
        for value in (c.mobile, c.mobile[3:] if c.mobile.startswith("+86") else "", c.email, c.wechat):
            if value and len(value) >= 6:
                found[value] = c.code
    return found


def _scan(secrets: dict[str, str]) -> list[str]:
    """Every value of every column of every table (the store's own tables, Django's included)."""
    leaks = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [col.name for col in connection.introspection.get_table_description(cursor, table)]
            quoted = ", ".join(connection.ops.quote_name(c) for c in columns)
            cursor.execute(f"SELECT {quoted} FROM {connection.ops.quote_name(table)}")  # names from the schema
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    if isinstance(value, bytes | memoryview):
                        text = bytes(value).decode("utf-8", "replace")
                    elif isinstance(value, dict | list):
                        text = json.dumps(value, ensure_ascii=False)
                    else:
                        text = str(value)
                    leaks += [f"{table}.{column}: {secret}" for secret in secrets if secret in text]
    return leaks


@pytest.fixture
def demo_shop(db, tmp_path, settings):
    settings.KEHU_HOME, settings.KEHU_IMPORT_BACKGROUND = tmp_path, False
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    call_command("demo", "--customers", "60", "--seed", "7", "-v", "0")
    return Customer.objects.exclude(mobile="").exclude(email="").order_by("id")


def _users():
    from kehu.accounts.models import User

    def user(role):
        return User.objects.filter(role=role, is_active=True).order_by("id").first() or User.objects.create_user(
            username=f"wl_{role}", password="x-long-password-1", role=role)

    return {role: user(role) for role in ("admin", "manager", "sales", "service", "viewer")}


def test_a_days_work_leaves_no_contact_value_in_plaintext_in_any_table(demo_shop, tmp_path):
    users = _users()
    a, b, c = list(demo_shop[:3])
    sales = users["sales"]
    Customer.objects.filter(pk=a.pk).update(owner=users["manager"])
    a_typed, b_typed = a.mobile[3:], b.mobile[3:]
    # searches by every role, on the page and the API, by mobile, e-mail and WeChat
    for user in users.values():
        web = _web(user)
        for q in (a_typed, a.email, a.wechat or "wx_none_1"):
            web.get("/customers/", {"q": q})
        token_client(user).get("/api/customers", {"q": b_typed})
    # exports with such filters, on the page and from the command
    manager = _web(users["manager"])
    for url in ("/exchange/customers.csv", "/exchange/orders.xlsx"):
        b"".join(manager.get(url, {"q": a_typed}).streaming_content)
    call_command("export", "customers", "-o", str(tmp_path / "c.csv"), "--filter", f"q={a.email}")
    # caller lookups and duplicate probes
    viewer = _web(users["viewer"])
    viewer.post("/customers/lookup/", {"mobile": a_typed})
    token_client(users["viewer"]).post("/api/customers/lookup", {"mobile": b_typed}, content_type="application/json")
    _web(sales).post("/customers/new/", {"name": "探测", "kind": "person", "mobile": a_typed,
                                         "registered_at": "2024-05-01T10:00"})
    token_client(sales).post("/api/customers", {"name": "探测", "email": a.email}, content_type="application/json")
    probe = write_xlsx(tmp_path / "probe.xlsx", {"客户": [["姓名", "手机", "电子邮箱"], ["甲", a_typed, a.email],
                                                         ["乙", b_typed, "not-an-email"]]})
    import_file(probe, user=sales, dry_run=True)
    import_file(probe, user=sales)
    # a target list cannot keep a contact search
    page = manager.post("/marketing/lists/new/", {"name": "一个人", "source": "list", "filter_query": f"q={a_typed}",
                                                  "channel": "sms", "exclude_days": 0})
    assert "不能按手机号" in page.content.decode() and not TargetList.objects.filter(name="一个人").exists()
    # edits, a merge, a campaign, a PIPL export
    manager.post(f"/customers/{c.code}/privacy/export.xlsx")
    c.mobile = "+8613700009999"
    c.save()
    merge_customers(b, c, user=users["manager"])
    Consent.objects.update_or_create(customer=a, channel="email", defaults={"granted": True})
    tl = TargetList.objects.create(name="全部邮件", channel="email", created_by=users["manager"])
    campaign = Campaign.objects.create(name="活动", target_list=tl, channel="email", created_by=users["manager"],
                                       message="{姓名}您好")
    campaigns.prepare(campaign, users["manager"])
    campaigns.send_email(campaign, users["manager"])

    assert AuditEntry.objects.filter(action=AuditAction.SEARCH).count() >= 15
    assert AuditEntry.objects.filter(action=AuditAction.DUPLICATE).count() >= 3
    secrets = _secrets() | {"13700009999": c.code}
    assert len(secrets) > 100
    assert _scan(secrets) == []


def test_a_pipl_erase_redacts_the_audit_entries_and_filters_that_mention_the_person(demo_shop):
    users = _users()
    person = demo_shop[0]
    typed = person.mobile[3:]
    for user in (users["manager"], users["viewer"]):
        _web(user).get("/customers/", {"q": typed})
    b"".join(_web(users["manager"]).get("/exchange/customers.csv", {"q": person.email}).streaming_content)
    _web(users["viewer"]).post("/customers/lookup/", {"mobile": typed})
    # what older versions kept: a filter in plaintext, and a target list searching the number
    old = AuditEntry.objects.create(action=AuditAction.EXPORT, username="old",
                                    details={"filter": f"q={typed}", "format": "csv"})
    legacy = TargetList.objects.create(name="旧名单", channel="sms", filter_query=f"q={typed}&province=广东省")
    mentions = AuditEntry.objects.filter(action__in=[AuditAction.SEARCH, AuditAction.LOOKUP, AuditAction.EXPORT])
    assert mentions.count() == 6

    privacy.erase(person, user=users["manager"])

    for entry in mentions:
        assert entry.details == {"redacted": True}, (entry.action, entry.details)
    old.refresh_from_db()
    legacy.refresh_from_db()
    assert old.details == {"redacted": True}
    assert typed not in legacy.filter_query and "province=" in legacy.filter_query
    # searches for other people stay as they were
    other = demo_shop[1]
    _web(users["manager"]).get("/customers/", {"q": other.mobile[3:]})
    assert AuditEntry.objects.filter(action=AuditAction.SEARCH).order_by("-id").first().details != {"redacted": True}
