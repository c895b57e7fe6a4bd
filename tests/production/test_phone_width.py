"""At phone width (390 px) every section is one tap away behind the menu button, a customer's actions fit the
screen, and the language switch sits in the header as 中文 | English."""

import os
import re
from pathlib import Path

from .harness import signed_in_page

SECTIONS = ["首页", "客户", "我的跟进", "分层分析", "精准营销", "导入", "数据质量", "审计日志"]
PHONE = {"width": 390, "height": 844}


def screenshot(page, name: str) -> None:
    """Kept for a person to look at (KEHU_SCREENSHOTS=folder); the assertions do not depend on them."""
    folder = os.environ.get("KEHU_SCREENSHOTS")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(folder) / f"{name}.png"), full_page=True)


def fits(page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"] and box["width"] > 0


def test_at_390_px_the_menu_button_reaches_every_section_and_the_header_switches_language(browser, server):
    server.session().post("/api/customers", json={"code": "PH-1", "name": "手机端客户", "mobile": "13911112222"})
    page = signed_in_page(browser, server.url, viewport=PHONE, is_mobile=True, has_touch=True)
    context = page.context

    nav = page.locator("#mainnav")
    assert not nav.is_visible()
    assert page.locator(".menu-button").is_visible()
    page.click(".menu-button")
    assert page.locator(".menu-button").get_attribute("aria-expanded") == "true"
    links = nav.locator("a")
    assert [links.nth(i).inner_text().strip() for i in range(links.count())] == SECTIONS
    for i in range(links.count()):
        assert fits(page, f"#mainnav a >> nth={i}"), SECTIONS[i]
    screenshot(page, "phone-menu")
    page.click("#mainnav >> text=导入")
    page.wait_for_url(re.compile(r"/exchange/import/$"))
    assert not nav.is_visible()  # a new page starts with the menu folded

    page.goto("/customers/PH-1/")
    for action in ("编辑资料", "个人信息", "删除"):
        assert fits(page, f".btn >> text={action}"), action
    screenshot(page, "phone-customer")
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]

    switch = page.locator("header .langswitch")
    assert switch.is_visible() and switch.inner_text().split() == ["中文", "|", "English"]
    switch.locator("text=English").click()
    page.wait_for_url(re.compile(r"/customers/PH-1/$"))
    page.click(".menu-button")
    assert nav.locator("a").nth(1).inner_text().strip() == "Customers"
    assert page.locator("header .langswitch [aria-current=true]").inner_text() == "English"
    context.close()
