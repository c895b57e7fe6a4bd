"""系统设置 inside the product: the hub lists what a role may change, every settings address refuses the roles
below it (GET and POST), the simple tables add, change and delete with an audit entry each."""

import pytest
from django.urls import reverse

from kehu.accounts.models import AuditEntry
from kehu.customers.models import CustomField, Tag
from kehu.engagement.models import Feedback, FeedbackDimension, FeedbackRating
from kehu.marketing.models import FollowUpRule, Playbook
from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db

TABLES = ("tags", "custom-fields", "feedback-dimensions", "playbooks", "follow-up-rules")
MANAGER_TABLES = {"tags", "playbooks", "follow-up-rules"}


def settings_urls(alice) -> dict[str, bool]:
    """Every settings address (with an object where it needs one) → whether managers may use it."""
    tag = Tag.objects.create(name="VIP")
    urls = {"/settings/": True, "/segments/settings/": True,
            "/settings/users/": False, "/settings/users/new/": False, f"/settings/users/{alice.pk}/": False,
            f"/settings/users/{alice.pk}/password/": False, f"/settings/users/{alice.pk}/active/": False,
            f"/settings/users/{alice.pk}/unlock/": False, f"/settings/users/{alice.pk}/tokens/1/revoke/": False,
            "/settings/system/backups/": False, "/settings/system/backups/new/": False,
            "/settings/system/backups/verify/": False, "/settings/system/mail/": False,
            "/settings/shop/currency/": False}
    for key in TABLES:
        urls[f"/settings/{key}/"] = key in MANAGER_TABLES
    urls[f"/settings/tags/{tag.pk}/"] = urls[f"/settings/tags/{tag.pk}/delete/"] = True
    return urls


def test_lower_roles_are_refused_every_settings_address_get_and_post(alice, sam, sue, victor, mary):
    urls = settings_urls(alice)
    for user in (sam, sue, victor):
        client = client_for(user)
        for url in urls:
            assert client.get(url).status_code in (403, 405), (user.username, url)
            assert client.post(url, {"name": "x", "active": "0"}).status_code == 403, (user.username, url)
    manager = client_for(mary)
    for url, managers in urls.items():
        if not managers:
            assert manager.post(url, {"name": "x", "active": "0"}).status_code == 403, url
            assert manager.get(url).status_code in (403, 405), url
    assert Tag.objects.get().name == "VIP" and alice.is_active


def test_strangers_are_sent_to_log_in(client):
    assert client.get("/settings/users/").url.startswith("/accounts/login/")


def test_the_hub_lists_what_each_role_may_change(alice, mary):
    admin = client_for(alice).get("/settings/").content.decode()
    for key in ("users", "currency", "thresholds", *TABLES, "mail", "backups"):
        assert f'data-settings="{key}"' in admin, key
    manager = client_for(mary).get("/settings/").content.decode()
    shown = {key for key in ("users", "thresholds", *TABLES, "mail", "backups") if f'data-settings="{key}"' in manager}
    assert shown == {"thresholds", *MANAGER_TABLES}
    assert "AXES" not in admin and "Access attempts" not in admin


def test_a_manager_adds_renames_and_deletes_a_tag_each_audited(mary):
    client = client_for(mary)
    assert client.post("/settings/tags/", {"name": "老客户"}).status_code == 302
    tag = Tag.objects.get(name="老客户")
    c = make_customer()
    c.tags.add(tag)
    assert client.post(f"/settings/tags/{tag.pk}/", {"name": "老顾客"}).status_code == 302
    assert list(c.tags.values_list("name", flat=True)) == ["老顾客"]
    assert client.post(f"/settings/tags/{tag.pk}/delete/").status_code == 302
    assert not Tag.objects.exists()
    entries = list(AuditEntry.objects.filter(username="mary").order_by("id").values_list("action", "details"))
    assert [a for a, _ in entries] == ["create", "update", "delete"]
    assert entries[1][1]["changes"] == {"name": ["老客户", "老顾客"]}


def test_an_admin_adds_a_custom_field_and_a_bad_key_is_named(alice):
    client = client_for(alice)
    bad = client.post("/settings/custom-fields/", {"label": "会员号", "key": "会员 号", "type": "text",
                                                   "choices": "", "position": 0})
    assert bad.status_code == 200 and "字段键" in bad.content.decode()
    ok = client.post("/settings/custom-fields/", {"label": "会员号", "key": "vip_no", "type": "text",
                                                  "choices": "", "position": 0})
    assert ok.status_code == 302 and CustomField.objects.get().key == "vip_no"


def test_a_dimension_in_use_is_not_deleted_but_can_be_switched_off(alice):
    client = client_for(alice)
    dim = FeedbackDimension.objects.create(name="口味")
    FeedbackRating.objects.create(feedback=Feedback.objects.create(customer=make_customer()), dimension=dim, score=4)
    answer = client.post(f"/settings/feedback-dimensions/{dim.pk}/delete/", follow=True)
    assert "已被使用" in answer.content.decode() and FeedbackDimension.objects.filter(pk=dim.pk).exists()
    client.post(f"/settings/feedback-dimensions/{dim.pk}/", {"name": "口味", "position": 1})
    dim.refresh_from_db()
    assert dim.active is False


def test_playbooks_and_rules_exist_before_they_are_edited_and_cannot_be_added(mary):
    client = client_for(mary)
    page = client.get("/settings/follow-up-rules/").content.decode()
    assert FollowUpRule.objects.count() == 6 and "生日祝福" in page
    rule = FollowUpRule.objects.get(key="p_alive")
    answer = client.post(f"/settings/follow-up-rules/{rule.pk}/", {
        "enabled": "on", "days": 7, "due_days": 2, "threshold": 0.25, "min_value": "800", "classes": ""})
    assert answer.status_code == 302
    rule.refresh_from_db()
    assert rule.threshold == 0.25 and rule.due_days == 2
    assert client.post("/settings/follow-up-rules/", {"key": "x"}).status_code == 403
    assert "主动回访了解流失原因" in client.get("/settings/playbooks/").content.decode()
    playbook = Playbook.objects.get(class_name="重要挽留客户")
    client.post(f"/settings/playbooks/{playbook.pk}/", {"action": "店长亲自打电话"})
    playbook.refresh_from_db()
    assert playbook.action == "店长亲自打电话"
    assert client.post(f"/settings/playbooks/{playbook.pk}/delete/").status_code == 403


def test_the_mail_page_shows_what_is_configured_never_the_password(alice, settings, monkeypatch):
    monkeypatch.setenv("KEHU_SMTP_HOST", "smtp.example.cn")
    settings.EMAIL_HOST, settings.EMAIL_HOST_PASSWORD = "smtp.example.cn", "s3cret-pass"
    html = client_for(alice).get("/settings/system/mail/").content.decode()
    assert "smtp.example.cn" in html and "已设置（不显示）" in html and "s3cret-pass" not in html


def test_django_admin_is_kept_at_a_path_nothing_links_to(alice, client):
    html = client_for(alice).get("/").content.decode()
    assert reverse("admin:index") == "/_admin/" and "/_admin/" not in html and 'href="/settings/"' in html
    assert client_for(alice).get("/_admin/").status_code == 200


def test_the_favicon_is_served(alice):
    client = client_for(alice)
    assert 'rel="icon" href="/static/favicon.svg"' in client.get("/").content.decode()
    assert client.get("/static/favicon.svg").status_code == 200
    assert client.get("/favicon.ico").url == "/static/favicon.svg"
