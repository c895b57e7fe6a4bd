"""A manager opens the segmentation dashboard in a real browser: the charts are drawn, the class table is there."""

import pytest
from playwright.sync_api import expect

from kehu.segments import pipeline
from tests.conftest import PASSWORD, make_customer, make_order

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_it_draws_the_dashboard_charts_beside_their_tables(page, mary):
    big = make_customer(name="张伟")
    for days in (3, 30, 60):
        make_order(big, "800.00", days_ago=days)
    make_order(make_customer(name="李娜"), "40.00", days_ago=300)
    pipeline.classify_all()

    log_in(page, "mary", PASSWORD)
    page.get_by_role("link", name="分层分析").click()
    expect(page.locator("h1")).to_have_text("分层总览")
    expect(page.locator("[data-figure=customers]")).to_have_text("2")
    expect(page.locator("#rfm [data-chart] canvas")).to_have_count(1)
    expect(page.locator("#monthly [data-chart] canvas")).to_have_count(1)
    expect(page.locator("#abc [data-chart] canvas")).to_have_count(1)
    box = page.locator("#rfm [data-chart] canvas").bounding_box()
    assert box["width"] > 200 and box["height"] > 200
    table = page.locator("#table-rfm")
    expect(table.locator("tr", has_text="重要价值客户")).to_contain_text("1")
    expect(table).to_contain_text("一般挽留客户")

    table.get_by_role("link", name="重要价值客户").click()
    expect(page.locator("#customer-table")).to_contain_text("张伟")
    expect(page.locator("#customer-table")).not_to_contain_text("李娜")
