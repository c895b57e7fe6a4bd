"""A person using the archive in a real browser: find a customer by mobile, add an order, see the figures move."""

import re

import pytest
from playwright.sync_api import expect

from kehu.segments import pipeline
from kehu.segments.models import CustomerSegment
from tests.conftest import PASSWORD, make_order

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_finds_a_customer_by_mobile_and_adds_an_order(page, sue, zhang, li):
    make_order(zhang, "120.00", days_ago=30)
    log_in(page, "sue", PASSWORD)
    page.goto("/customers/")
    page.fill("#q", "138 1234 5678")
    page.press("#q", "Enter")
    table = page.locator("#customer-table")
    expect(table).to_contain_text("张伟")
    expect(table).not_to_contain_text("李娜")
    page.get_by_role("link", name="张伟").click()
    expect(page).to_have_url(re.compile(f"/customers/{zhang.code}/$"))
    expect(page.locator("[data-field=mobile]")).to_have_text("138 1234 5678")
    expect(page.locator("[data-figure=orders]")).to_have_text("1")

    page.locator("#orders summary").click()
    page.fill("input[name=order-amount]", "299.50")
    page.locator("#orders .add-form button[type=submit]").click()

    expect(page.locator("[data-figure=orders]")).to_have_text("2")
    expect(page.locator("[data-figure=total]")).to_contain_text("419.50")
    assert zhang.orders.count() == 2



def test_the_class_panel_follows_an_added_order_without_a_reload(page, sue, zhang, li):
    make_order(zhang, "120.00", days_ago=30)
    make_order(li, "80.00", days_ago=200)
    pipeline.classify_all()
    log_in(page, "sue", PASSWORD)
    page.goto(f"/customers/{zhang.code}/")
    why = page.locator("#segments [data-explanation]")
    expect(why).to_contain_text("最近一次消费 30 天前")
    expect(why).to_contain_text("共 1 笔订单")

    page.locator("#orders summary").click()
    page.fill("input[name=order-amount]", "299.50")
    page.locator("#orders .add-form button[type=submit]").click()

    expect(page.locator("[data-figure=orders]")).to_have_text("2")
    expect(why).to_contain_text("最近一次消费 0 天前")   # replaced in place, as the cards above it
    expect(why).to_contain_text("共 2 笔订单")
    expect(page.locator("#segments")).to_have_count(1)
    expect(page.locator("#recommendations")).to_have_count(1)
    expect(page.locator("#segments [data-stale]")).to_have_count(0)
    assert CustomerSegment.objects.get(customer=zhang).frequency == 2

    # the new order refunded, then counted again: the figures and the class follow each time, without a reload
    new_order = page.locator("#orders tbody tr", has_text="299.50")
    new_order.locator("[data-order-action=refund]").click()
    expect(page.locator("[data-figure=orders]")).to_have_text("1")
    expect(why).to_contain_text("最近一次消费 30 天前")
    expect(why).to_contain_text("共 1 笔订单")
    expect(new_order).to_contain_text("已退款")
    assert CustomerSegment.objects.get(customer=zhang).frequency == 1
    new_order.locator("[data-order-action=restore]").click()
    expect(why).to_contain_text("共 2 笔订单")
    expect(page.locator("[data-figure=total]")).to_contain_text("419.50")

def test_a_viewer_sees_only_a_masked_mobile(page, victor, zhang):
    log_in(page, "victor", PASSWORD)
    page.goto("/customers/")
    row = page.locator("#customer-table tr", has_text="张伟")
    expect(row).to_contain_text("138****5678")
    expect(page.locator("#customer-table")).not_to_contain_text("1234")
    page.goto(f"/customers/{zhang.code}/")
    expect(page.locator("[data-field=mobile]")).to_have_text("138****5678")
    expect(page.get_by_text("新增消费记录")).to_have_count(0)


def test_a_wrong_password_keeps_you_out_and_says_why(page, alice):
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "alice")
    page.fill("input[name=password]", "wrong-password")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile("/accounts/login/"))
    expect(page.locator("form.form-card")).to_contain_text("用户名或密码不正确")
