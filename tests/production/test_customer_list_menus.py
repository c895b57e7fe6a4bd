"""The customer list's filter menus on a live `kehu serve`: a province and city written by another process
(`kehu shell`) are in the served page's menus on the next request — no process keeps an old copy."""

import re

from .harness import LiveServer

ADD = """
from kehu.customers.models import Customer
Customer.objects.create(code="XZ0001", name="次仁", province="西藏自治区", city="拉萨市", industry="旅游")
"""


def menu(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}".*?</select>', html, re.S).group(0)
    return [v for v in re.findall(r'<option value="([^"]*)"', select) if v]


def test_a_value_another_process_writes_is_in_the_served_menus(ready_store):
    ready_store.shell('from kehu.customers.models import Customer\n'
                      'Customer.objects.create(code="GD0001", name="陈明", province="广东省", city="深圳市")')
    server = LiveServer(ready_store).start(timeout=120)  # a shared 2-core machine can be slow to start it
    try:
        web = server.session()
        first = web.get(server.url + "/customers/").text
        assert menu(first, "province") == ["广东省"] and menu(first, "city") == ["深圳市"]
        assert menu(first, "industry") == []

        ready_store.shell(ADD)
        after = web.get(server.url + "/customers/").text
        assert set(menu(after, "province")) == {"广东省", "西藏自治区"}
        assert set(menu(after, "city")) == {"深圳市", "拉萨市"}
        assert menu(after, "industry") == ["旅游"]
        tibet = web.get(server.url + "/customers/", params={"province": "西藏自治区"}).text
        assert menu(tibet, "city") == ["拉萨市"]
    finally:
        server.stop()
