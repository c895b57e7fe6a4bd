"""Target lists are made from what the user already has, never from a pasted query string: the customer list's
current filter (a link on the list), a rule segment, or a class; each list holds exactly the customers computed
here from the rows made."""

from urllib.parse import quote

SETUP = """
from kehu.customers.models import Customer
from kehu.segments.models import RuleSegment
for code, province, grade in {rows!r}:
    Customer.objects.create(code=code, name=code, province=province, grade=grade)
print(RuleSegment.objects.create(name="A 级客户", rules={{"op": "and", "items": [
    {{"field": "grade", "op": "in", "values": ["A"]}}]}}).pk)
"""
ROWS = [("T-1", "广东省", "A"), ("T-2", "广东省", "B"), ("T-3", "浙江省", "A"), ("T-4", "广东省", "A"),
        ("T-5", "江苏省", "C")]


def test_lists_come_from_the_list_filter_or_a_rule_segment_and_hold_the_right_customers(browser_page, server):
    server.store.shell(SETUP.format(rows=ROWS))
    page = browser_page

    page.goto("/customers/?province=" + quote("广东省"))
    page.click("a[data-new-target-list]")
    page.wait_for_url("**/marketing/lists/new/**")
    assert "广东省" in page.locator("[data-list-filter]").inner_text()
    assert page.locator("input[name=source][value=list]").is_checked()
    assert page.locator("input[name=filter_query]").get_attribute("type") == "hidden"
    page.fill("input[name=name]", "广东短信")
    page.select_option("select[name=channel]", "sms")
    page.click("form button[type=submit] >> text=创建名单")
    page.wait_for_url("**/marketing/lists/*/")
    assert page.locator("[data-total]").inner_text() == str(sum(1 for _c, p, _g in ROWS if p == "广东省"))
    assert "广东省" in page.locator(".subtitle").inner_text() and "province=" not in page.content()

    page.goto("/marketing/lists/new/")
    assert page.locator("input[name=source][value=list]").count() == 0  # no list filter to carry
    page.fill("input[name=name]", "A 级电话回访")
    page.check("input[name=source][value=rule]")
    page.select_option("select[name=rule]", label="A 级客户")
    page.select_option("select[name=channel]", "phone")
    page.click("form button[type=submit] >> text=创建名单")
    page.wait_for_url("**/marketing/lists/*/")
    assert page.locator("[data-total]").inner_text() == str(sum(1 for _c, _p, g in ROWS if g == "A"))
    assert "规则分群：A 级客户" in page.locator(".subtitle").inner_text()

    page.goto("/marketing/lists/new/")
    page.fill("input[name=name]", "没选分层")
    page.select_option("select[name=channel]", "sms")
    page.click("form button[type=submit] >> text=创建名单")
    assert "请选择客户分层" in page.content()
