"""The audit log: views of full contact details, changes (masked), merges, deletes, exports; read-only; pruned."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from kehu.accounts import audit
from kehu.accounts.models import AuditAction, AuditEntry
from kehu.customers.merge import merge_customers
from tests.conftest import make_customer


def login(client, user):
    client.force_login(user)
    return client


def raw_audit_text() -> str:
    with connection.cursor() as cur:
        cur.execute("SELECT target_label, codes, details FROM accounts_auditentry")
        return " ".join(str(v) for row in cur.fetchall() for v in row)


def test_it_records_who_viewed_full_contact_details(client, mary, zhang):
    login(client, mary).get(reverse("customers:detail", args=[zhang.code]))
    entry = AuditEntry.objects.get(action=AuditAction.VIEW)
    assert (entry.user, entry.target_code, entry.channel) == (mary, zhang.code, "web")


def test_it_records_no_view_for_a_role_that_sees_masked_details(client, sam, zhang):
    login(client, sam).get(reverse("customers:detail", args=[zhang.code]))
    assert not AuditEntry.objects.filter(action=AuditAction.VIEW).exists()


def test_it_records_one_entry_per_list_page_with_the_codes(client, mary, zhang, li):
    login(client, mary).get(reverse("customers:list"))
    entry = AuditEntry.objects.get(action=AuditAction.VIEW_LIST)
    assert set(entry.codes.split()) == {zhang.code, li.code}


def test_it_records_api_reads(client, sue, zhang):
    login(client, sue).get(f"/api/customers/{zhang.code}")
    assert AuditEntry.objects.get(action=AuditAction.VIEW).channel == "api"


def test_it_records_changes_with_contact_fields_masked(client, mary, zhang):
    login(client, mary)
    zhang.refresh_from_db()
    zhang.name = "张伟伟"
    zhang.mobile = "+8613900001111"
    zhang.save()
    entry = AuditEntry.objects.filter(action=AuditAction.UPDATE).get()
    assert entry.details["changes"]["name"] == ["张伟", "张伟伟"]
    assert entry.details["changes"]["mobile"] == ["138****5678", "139****1111"]
    text = raw_audit_text()
    assert "13812345678" not in text and "13900001111" not in text and "zhangwei@example.com" not in text


def test_a_change_made_on_the_edit_page_names_its_author(client, mary, zhang):
    from kehu.customers.forms import CustomerForm

    login(client, mary)
    page = client.get(reverse("customers:edit", args=[zhang.code]))
    form = page.context["form"]
    data = {name: form.get_initial_for_field(field, name) for name, field in form.fields.items()}
    data = {k: ("" if v is None else v) for k, v in data.items() if not isinstance(v, list)}
    data["grade"] = "A"
    assert isinstance(form, CustomerForm)
    response = client.post(reverse("customers:edit", args=[zhang.code]), data)
    assert response.status_code == 302
    entry = AuditEntry.objects.get(action=AuditAction.UPDATE)
    assert entry.user == mary and entry.details["changes"]["grade"] == ["", "A"]


def test_it_records_creation_and_deletion(mary):
    customer = make_customer(name="王五", mobile="+8613700000000")
    created = AuditEntry.objects.get(action=AuditAction.CREATE)
    assert created.target_code == customer.code and created.details["changes"]["mobile"][1] == "137****0000"
    customer.delete()
    assert AuditEntry.objects.get(action=AuditAction.DELETE).target_code == customer.code


def test_it_records_merges(mary, zhang, li):
    merge_customers(zhang, li, user=mary)
    entry = AuditEntry.objects.get(action=AuditAction.MERGE)
    assert entry.user == mary and entry.details["merged_code"] == li.code


def test_it_records_exports_and_whether_they_were_masked(client, sam, zhang):
    login(client, sam).get(reverse("exchange:customers_export", args=["xlsx"]))
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.user == sam and entry.details["masked"] is True


def test_entries_cannot_be_changed_or_deleted(mary):
    entry = audit.record(mary, AuditAction.EXPORT, "customers")
    entry.target_label = "something else"
    with pytest.raises(ValueError):
        entry.save()
    with pytest.raises(ValueError):
        entry.delete()
    from django.contrib import admin

    assert AuditEntry not in admin.site._registry


def test_the_page_is_for_admins_and_managers(client, mary, sam, zhang):
    assert login(client, sam).get(reverse("accounts:audit")).status_code == 403
    client.logout()
    response = login(client, mary).get(reverse("accounts:audit"))
    assert response.status_code == 200
    assert "审计日志" in response.content.decode()


def test_the_page_filters_by_user_action_code_and_date(client, alice, mary, zhang, li):
    audit.record(mary, AuditAction.VIEW, zhang)
    audit.record(alice, AuditAction.VIEW, li)
    audit.record(mary, AuditAction.VIEW_LIST, codes=[zhang.code, li.code])
    login(client, alice)
    url = reverse("accounts:audit")

    def shown(**params):
        return list(client.get(url, params).context["page"].items)

    assert {e.username for e in shown(user="mary", action="view")} == {"mary"}
    assert len(shown(user="mary", action="view")) == 1
    assert len(shown(code=li.code, user="")) >= 2  # the view of li and the list page listing li
    today = timezone.localdate()
    assert shown(start=(today + datetime.timedelta(days=1)).isoformat()) == []
    assert len(shown(end=today.isoformat(), action="view")) == 2


def test_the_page_pages_by_key_set(client, alice):
    for i in range(60):
        audit.record(alice, AuditAction.EXPORT, f"file {i}")
    login(client, alice)
    first = client.get(reverse("accounts:audit"), {"action": "export"}).context["page"]
    assert len(first.items) == 50 and first.has_next
    second = client.get(reverse("accounts:audit"), {"action": "export", "cursor": first.next_cursor}).context["page"]
    assert len(second.items) == 10 and not second.has_next


def test_prune_keeps_recent_entries(mary, settings):
    old = audit.record(mary, AuditAction.EXPORT, "old")
    AuditEntry.objects.filter(pk=old.pk).update(at=timezone.now() - datetime.timedelta(days=800))
    audit.record(mary, AuditAction.EXPORT, "new")
    call_command("audit_prune", verbosity=0)
    assert list(AuditEntry.objects.values_list("target_label", flat=True)) == ["new"]
    settings.KEHU_AUDIT_RETENTION_DAYS = 0
    assert audit.retention_days() == 0


def test_the_nav_links_the_log_for_managers_only(client, mary, sam):
    assert reverse("accounts:audit") in login(client, mary).get(reverse("customers:list")).content.decode()
    client.logout()
    assert reverse("accounts:audit") not in login(client, sam).get(reverse("customers:list")).content.decode()


def test_it_records_a_finished_import_once(tmp_path, mary):
    from kehu.exchange.importer import import_file

    sheet = tmp_path / "客户.csv"
    sheet.write_text("姓名,手机\n赵六,13611112222\n钱七,13633334444\n", encoding="utf-8")
    import_file(sheet, user=mary, dry_run=True)
    assert not AuditEntry.objects.filter(action=AuditAction.IMPORT).exists()
    import_file(sheet, user=mary)
    entry = AuditEntry.objects.get(action=AuditAction.IMPORT)
    assert entry.user == mary and entry.details["file"] == "客户.csv" and entry.details["new"] == 2
    assert "13611112222" not in raw_audit_text()
