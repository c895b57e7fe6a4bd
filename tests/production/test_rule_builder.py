"""The rule builder in Chromium offers the comparisons each field allows (dates: 早于/晚于/最近 N 天内; numbers:
≥ ≤ 介于 …; choices: 是/不是), and a rule saved with them counts exactly the customers computed here."""

SETUP = """
import datetime
from decimal import Decimal
from django.utils import timezone
from kehu.customers.models import Customer
from kehu.sales.models import Order
now = timezone.now()
for code, registered_days_ago, amounts in {rows!r}:
    c = Customer.objects.create(code=code, name=code, registered_at=now - datetime.timedelta(days=registered_days_ago))
    for i, amount in enumerate(amounts):
        Order.objects.create(customer=c, amount=Decimal(amount), ordered_at=now - datetime.timedelta(days=i + 2))
"""
# code, registered so many days ago, order amounts
ROWS = [("R-1", 3, ["80", "90"]), ("R-2", 10, ["500"]), ("R-3", 45, ["200"]), ("R-4", 5, ["20"]),
        ("R-5", 29, ["100", "400"]), ("R-6", 1, [])]


def option_labels(page, row: int) -> list[str]:
    return page.eval_on_selector_all(f"select[name=op_{row}] option",
                                     "options => options.filter(o => !o.hidden).map(o => o.textContent.trim())")


def test_the_builder_offers_each_fields_comparisons_and_the_rule_counts_right(browser_page, server):
    server.store.shell(SETUP.format(rows=ROWS))
    server.store.kehu("segment", "--full", "--no-progress")
    page = browser_page
    page.goto("/segments/rules/new/")

    page.select_option("select[name=field_1]", label="注册时间")
    assert option_labels(page, 1) == ["早于", "晚于", "最近 N 天内"]
    page.select_option("select[name=field_1]", label="消费金额")
    assert option_labels(page, 1) == ["≥", "≤", "介于", ">", "<", "="]
    assert page.input_value("select[name=op_1]") == "gte"
    page.select_option("select[name=field_2]", label="省份")
    assert option_labels(page, 2) == ["是", "不是"]

    page.fill("input[name=name]", "近一月注册的中等客户")
    page.select_option("select[name=op_1]", label="介于")
    page.fill("input[name=values_1]", "150、500")
    page.select_option("select[name=field_2]", label="注册时间")
    page.select_option("select[name=op_2]", label="最近 N 天内")
    page.fill("input[name=values_2]", "30")
    page.click("form.rule-form button[type=submit]")
    page.wait_for_url("**/segments/rules/")

    row = page.locator("tr", has_text="近一月注册的中等客户")
    assert "消费金额介于 ¥150 和 ¥500 之间 且 注册时间在最近 30 天内" in row.inner_text()
    expected = sorted(code for code, days, amounts in ROWS
                      if 150 <= sum(int(a) for a in amounts) <= 500 and days < 30)
    assert 0 < len(expected) < len(ROWS)
    assert row.locator("[data-count]").inner_text().strip() == str(len(expected))
    row.locator("[data-count] a").click()
    page.wait_for_load_state()
    listed = sorted(page.eval_on_selector_all("table.data tbody td.mono",
                                              "cells => cells.map(c => c.textContent.trim())"))
    assert listed == expected
