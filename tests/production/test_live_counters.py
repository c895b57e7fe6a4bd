"""In Chromium on a live server: marking a follow-up done moves every counter on the page at once (no reload),
and a save made through htmx (an order on the customer page) says 已保存."""

import datetime

from playwright.sync_api import expect

SETUP = """
import datetime
from django.contrib.auth import get_user_model
from django.utils import timezone
from kehu.customers.models import Customer
from kehu.engagement.models import FollowUp
admin = get_user_model().objects.get(username="admin")
c = Customer.objects.create(code="LIVE-1", name="计数客户", owner=admin)
today = timezone.localdate()
for title, days in [("逾期一", -3), ("逾期二", -1), ("今天的", 0), ("下周的", 6)]:
    FollowUp.objects.create(customer=c, assignee=admin, title=title, due=today + datetime.timedelta(days=days))
"""


def figures(page) -> dict[str, list[str]]:
    return page.evaluate("""() => {
        const out = {};
        for (const el of document.querySelectorAll('[data-figure]')) {
            (out[el.dataset.figure] = out[el.dataset.figure] || []).push(el.textContent.trim());
        }
        return out;
    }""")


def test_marking_done_moves_the_counters_and_an_order_saved_says_so(browser_page, server):
    server.store.shell(SETUP)
    page = browser_page
    page.goto("/engagement/follow-ups/")
    assert figures(page) == {"overdue": ["2", "2"], "due-today": ["1", "1"], "upcoming": ["1", "1"]}
    page.locator("#overdue li", has_text="逾期一").locator("button", has_text="标记完成").click()
    expect(page.locator("[data-figure=overdue]").first).to_have_text("1")
    assert figures(page) == {"overdue": ["1", "1"], "due-today": ["1", "1"], "upcoming": ["1", "1"]}

    page.goto("/")    # the admin's home: the team's overdue follow-ups, and the admin's own due today
    assert figures(page)["team-overdue"] == ["1"] and figures(page)["due-total"] == ["2"]
    page.locator(".follow-list li", has_text="今天的").locator("button", has_text="标记完成").click()
    expect(page.locator("[data-figure=due-total]").first).to_have_text("1")
    assert figures(page)["team-overdue"] == ["1"]
    page.locator(".follow-list li", has_text="逾期二").locator("button", has_text="标记完成").click()
    expect(page.locator("[data-figure=team-overdue]").first).to_have_text("0")
    assert figures(page)["due-total"] == ["0"]

    page.goto("/customers/LIVE-1/")
    page.click("#orders summary")
    page.fill("input[name=order-amount]", "128")
    when = datetime.datetime.now().strftime("%Y-%m-%dT%H:%M:%S")
    page.fill("input[name=order-ordered_at]", when)
    page.click("#orders .add-form button[type=submit]")
    toast = page.locator(".toast")
    toast.wait_for()
    assert toast.inner_text() == "已保存"
    assert "¥128.00" in page.locator("#orders").inner_text()
