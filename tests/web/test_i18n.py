"""Chinese first, English switchable."""

import pytest

from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db


def test_it_speaks_chinese_by_default(alice):
    html = client_for(alice).get("/customers/").content.decode()
    assert '<html lang="zh-hans">' in html
    assert "客户编号" in html and "下一页" in html


def test_it_switches_the_list_page_to_english(alice):
    c = client_for(alice)
    r = c.post("/i18n/setlang/", {"language": "en", "next": "/customers/"})
    assert r.status_code == 302
    html = c.get("/customers/").content.decode()
    assert '<html lang="en">' in html
    assert "Customer code" in html and "Next" in html and "New customer" in html
    assert "客户编号</th>" not in html and "Sort: Customer code" in html
    c.post("/i18n/setlang/", {"language": "zh-hans", "next": "/customers/"})
    assert "客户编号" in c.get("/customers/").content.decode()


def test_an_english_browser_still_gets_chinese_until_english_is_chosen(alice):
    html = client_for(alice).get("/customers/", HTTP_ACCEPT_LANGUAGE="en-US,en;q=0.9").content.decode()
    assert '<html lang="zh-hans">' in html
