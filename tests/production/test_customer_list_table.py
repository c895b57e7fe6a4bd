"""The customer list as the merchant's table, on a live `kehu serve` over the demo shop after `kehu segment`, in
Chromium: pick columns, sort by total spend, turn to page 2, save the view and reopen it; `kehu export --cols`
writes the same columns in the same order; at 390 px the filters start folded. The expected order is read
from the store in a separate process."""

import csv
import json
import re
from decimal import Decimal

from .harness import LiveServer, signed_in_page

STORED = """
import json
from kehu.customers.models import Customer
rows = Customer.objects.values_list("id", "code", "metrics__monetary")
print(json.dumps([[pk, code, None if m is None else str(m)] for pk, code, m in rows]))
"""
CODES = re.compile(r'<td class="mono"><a href="/customers/([^/]+)/">')


def by_total_spend(stored: list) -> list[str]:
    """Largest total first, equal totals by the later customer first; customers who never bought last."""
    buyers = sorted((r for r in stored if r[2] is not None), key=lambda r: (Decimal(r[2]), r[0]), reverse=True)
    others = sorted((r for r in stored if r[2] is None), key=lambda r: r[0], reverse=True)
    return [r[1] for r in buyers + others]


def codes_in(page) -> list[str]:
    return CODES.findall(page.locator("#customer-table").inner_html())


def test_a_merchant_picks_columns_sorts_pages_and_saves_a_view(browser, ready_store, tmp_path):
    ready_store.kehu("demo", "--customers", "130")
    ready_store.kehu("segment")
    expected = by_total_spend(json.loads(ready_store.shell(STORED).strip().splitlines()[-1]))
    assert len(expected) > 100

    out = tmp_path / "list.csv"
    ready_store.kehu("export", "customers", "-o", str(out), "--cols", "code,total_spend,churn_probability",
                     "--filter", "sort=-total_spend")
    with open(out, encoding="utf-8-sig") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["客户编号", "消费金额（元）", "流失概率（%）"]
    assert [r[0] for r in rows[1:]] == expected

    with LiveServer(ready_store) as server:
        page = signed_in_page(browser, server.url)
        context = page.context

        page.goto("/customers/")
        assert page.locator("#filters-more").get_attribute("open") is not None  # wide: filters shown
        assert re.search(r"共 1[0-9]{2} 位客户", page.locator("#customer-total").inner_text())

        # pick columns: drop tags and registration, add churn probability and CLV
        page.click("#column-picker summary")
        page.uncheck("#column-picker input[value=tags]")
        page.uncheck("#column-picker input[value=registered_at]")
        page.check("#column-picker input[value=churn_probability]")
        page.check("#column-picker input[value=clv]")
        page.click("#column-picker button[type=submit]")
        page.wait_for_url(re.compile(r"cols="))
        heads = page.locator("#customer-rows th").evaluate_all("ths => ths.map(th => th.dataset.col)")
        assert "churn_probability" in heads and "clv" in heads and "tags" not in heads
        assert "registered_at" not in heads

        # sort by total spend (a header click: largest first), then page 2
        page.click("th[data-col=total_spend] a")
        page.wait_for_url(re.compile(r"sort=-total_spend"))
        page.wait_for_function("document.querySelector('th[data-col=total_spend]').textContent.includes('↓')")
        assert codes_in(page) == expected[:50]
        page.click("a[rel=next]")
        page.wait_for_url(re.compile(r"cursor="))
        page.wait_for_function(f"!document.querySelector('#customer-table').innerHTML.includes('/{expected[0]}/')")
        assert codes_in(page) == expected[50:100]
        assert "cols=" in page.url

        # save the view, leave, reopen it: same columns, same sort, from the first page
        page.fill("#save-view input[name=name]", "大客户")
        page.click("#save-view button[type=submit]")
        page.wait_for_selector('a[data-saved-view="大客户"]')
        page.goto("/customers/")
        page.click('a[data-saved-view="大客户"]')
        page.wait_for_url(re.compile(r"sort=-total_spend"))
        assert "cursor=" not in page.url
        heads = page.locator("#customer-rows th").evaluate_all("ths => ths.map(th => th.dataset.col)")
        assert "churn_probability" in heads and "tags" not in heads
        assert codes_in(page) == expected[:50]

        # at phone width the filters start folded, one tap away
        phone = browser.new_context(base_url=server.url, locale="zh-CN", viewport={"width": 390, "height": 844},
                                    is_mobile=True, has_touch=True, storage_state=context.storage_state())
        small = phone.new_page()
        small.goto("/customers/")
        assert small.locator("#filters-more").get_attribute("open") is None
        assert not small.locator("select[name=province]").is_visible()
        small.click("#filters-more summary")
        assert small.locator("select[name=province]").is_visible()
        phone.close()
        context.close()
