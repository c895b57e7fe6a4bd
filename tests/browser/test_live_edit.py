"""Two people on one customer in real browsers: the one still looking learns of the other's save within a poll,
and the health page shows injected problems with their fixes."""

import pytest
from django.db.models import F
from playwright.sync_api import expect

from kehu.customers.models import Customer
from tests.conftest import PASSWORD, make_customer

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_edit_form_shows_a_banner_when_someone_else_saves(page, mary, alice, zhang):
    log_in(page, "mary", PASSWORD)
    page.goto(f"/customers/{zhang.code}/edit/")
    # alice saves meanwhile (as her own edit page would)
    Customer.objects.filter(pk=zhang.pk).update(version=F("version") + 1, updated_by=alice, notes="alice 改的")
    banner = page.locator(".live-banner")
    expect(banner).to_contain_text("该客户已被 王丽 修改", timeout=15_000)
    expect(banner.get_by_role("link", name="放弃我的修改，重新打开最新资料")).to_be_visible()
    # saving anyway shows what alice changed instead of overwriting it
    page.fill("textarea[name=notes]", "mary 改的")
    page.get_by_role("button", name="保存").click()
    expect(page.locator("#conflict")).to_contain_text("alice 改的")
    assert Customer.objects.get(pk=zhang.pk).notes == "alice 改的"


def test_the_health_page_lists_problems_and_assigns_owners(page, alice, sam):
    orphan = make_customer(name="无主客户")
    Customer.objects.filter(pk=make_customer(name="坏手机", owner=sam).pk).update(mobile="12345")
    log_in(page, "alice", PASSWORD)
    page.get_by_role("link", name="数据质量").click()
    expect(page.locator("#finding-invalid")).to_contain_text("坏手机")
    expect(page.locator("#finding-unowned")).to_contain_text("无主客户")
    page.locator("#finding-unowned select[name=owner]").select_option(label="孙明")
    page.get_by_role("button", name="批量分配负责人").click()
    expect(page.locator("#finding-unowned")).to_contain_text("没有发现问题")
    orphan.refresh_from_db()
    assert orphan.owner == sam
