"""A customer's classes follow its orders on a live server: classify a store with `kehu segment`, add an order
through the web form of the customer page, open the page over HTTP and read the class panel; then refund that
order from the page, count it again, and refund it through the API."""

import datetime as dt
import re

import requests

from .harness import LiveServer

SETUP = """
import datetime as dt
from decimal import Decimal
from django.utils import timezone
from kehu.customers.models import Customer
from kehu.sales.models import Order

now = timezone.now()
plan = [[559], [5, 40, 90], [20], [200, 260], [10, 15, 30, 45], [120], [2], [400, 420], [60], [8, 9], [365], [33, 70]]
for i, days in enumerate(plan):
    customer = Customer.objects.create(name=f"老客户{i}", province="广东省", city="深圳市")
    for n, ago in enumerate(days):
        amount = Decimal("336") if i == 0 else Decimal(100 + 250 * n + 10 * i)
        Order.objects.create(customer=customer, ordered_at=now - dt.timedelta(days=ago), amount=amount)
print(Customer.objects.get(name="老客户0").code)
"""


def panel(page: str) -> str:
    """The class panel of a customer page (section#segments), tags stripped."""
    found = re.search(r'<section class="card" id="segments">(.*?)</section>', page, re.S)
    assert found, "the customer page has no class panel"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", found.group(1)))


def test_it_shows_the_new_figures_and_class_after_an_order_is_added_through_the_form(ready_store):
    code = ready_store.shell(SETUP).strip().splitlines()[-1]
    ready_store.kehu("segment", "--no-progress")
    with LiveServer(ready_store) as server:
        web = server.session()
        before = panel(web.get(f"/customers/{code}/").text)
        assert "共 1 笔订单" in before and "一般挽留客户" in before and "流失客户" in before
        run_day = re.search(r"分析日期 (\d{4}-\d{2}-\d{2})", before).group(1)   # the run's, before any order

        today = dt.datetime.now().strftime("%Y-%m-%dT%H:%M")
        answer = web.post(f"/orders/add/{code}/", data={
            "order-ordered_at": today, "order-amount": "50000", "order-payment_method": "wechat_pay",
            "order-sales_channel": "store", "order-status": "completed", "order-number": "", "order-note": "",
            "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "1000"})
        assert answer.status_code == 200, answer.text[:500]

        after = panel(web.get(f"/customers/{code}/").text)
        # 2 orders, ¥50,336, last one today: recent, more orders and more spend than the shop's means
        # (12 customers, 1.75 orders and about ¥600 on average) → 重要价值客户; bought within 90 days → 活跃客户.
        assert "最近一次消费 0 天前" in after and "共 2 笔订单" in after and "¥50,336" in after
        assert "重要价值客户" in after and "活跃客户" in after
        assert "一般挽留客户" not in after and "流失客户" not in after
        assert f"来自 {run_day} 的分层计算" in after and "重新计算分层" in after

        # the new order refunded from the page (the newest order's button comes first), then counted again
        page = web.get(f"/customers/{code}/").text
        refund = re.search(rf'action="(/orders/status/{code}/\d+/)"', page).group(1)
        assert web.post(refund, data={"status": "refunded"}).status_code == 200
        refunded = panel(web.get(f"/customers/{code}/").text)
        assert "共 1 笔订单" in refunded and "一般挽留客户" in refunded and "流失客户" in refunded
        assert web.post(refund, data={"status": "completed"}).status_code == 200
        again = panel(web.get(f"/customers/{code}/").text)
        assert "共 2 笔订单" in again and "重要价值客户" in again and "活跃客户" in again

        # and refunded again by another program, through the API with a token made by `kehu apitoken`
        token = ready_store.kehu("apitoken", "admin", "--name", "ERP").stdout.strip()
        order_id = refund.rstrip("/").rsplit("/", 1)[1]
        answer = requests.patch(f"{server.url}/api/customers/{code}/orders/{order_id}", json={"status": "refunded"},
                                headers={"Authorization": f"Bearer {token}"}, timeout=30)
        assert answer.status_code == 200 and answer.json()["status"] == "refunded", answer.text[:300]
        assert "共 1 笔订单" in panel(web.get(f"/customers/{code}/").text)
    if ready_store.vendor == "sqlite":
        assert ready_store.integrity() == "ok"
