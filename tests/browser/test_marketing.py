"""精准营销 in a real browser: build a target list from a class, start a campaign and mark a call; claim from 公海."""

import datetime

import pytest
from playwright.sync_api import expect

from kehu.engagement.models import Consent
from kehu.marketing.models import CampaignContact
from kehu.segments.models import CustomerSegment
from tests.conftest import PASSWORD, make_customer

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_a_manager_builds_a_list_and_runs_a_phone_campaign(page, mary):
    wang = make_customer(name="王芳", mobile="+8613800000001")
    CustomerSegment.objects.create(customer=wang, changed_on=datetime.date.today(), rfm_class="重要挽留客户")
    Consent.objects.create(customer=wang, channel="phone", granted=True)
    log_in(page, "mary", PASSWORD)
    page.get_by_role("link", name="精准营销").click()
    page.get_by_role("link", name="＋ 新建目标名单").click()
    page.fill("input[name=name]", "挽留回访")
    page.select_option("select[name=audience]", "rfm_class:重要挽留客户")
    page.select_option("select[name=channel]", "phone")
    page.get_by_role("button", name="创建名单").click()
    expect(page.locator("[data-total]")).to_have_text("1")
    expect(page.locator("[data-reachable]")).to_have_text("1")
    expect(page.locator("[data-export=xlsx]")).to_be_visible()
    page.get_by_role("link", name="用此名单建营销活动").click()
    page.fill("input[name=name]", "挽留电话")
    page.fill("textarea[name=message]", "{姓名}您好，{优惠}")
    page.fill("input[name=offer]", "回店礼")
    page.get_by_role("button", name="创建活动").click()
    expect(page.locator("[data-example]")).to_have_text("张三您好，回店礼")
    page.locator("[data-mark]").click()
    expect(page.locator("#contacts")).to_contain_text("已联系")
    assert CampaignContact.objects.get(customer=wang).by == mary


def test_a_sales_rep_claims_from_the_pool(page, sam):
    li = make_customer(name="李娜", company="杭州某某科技")
    log_in(page, "sam", PASSWORD)
    page.goto("/marketing/pool/")
    expect(page.locator("#pool")).to_contain_text("杭州某某科技")
    page.locator("[data-claim]").click()
    expect(page.locator("h1")).to_contain_text("李娜")
    li.refresh_from_db()
    assert li.owner == sam
