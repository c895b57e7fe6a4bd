import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from kehu.sales.models import Category, Order, Product
from tests.conftest import make_order

pytestmark = pytest.mark.django_db


def test_an_order_counts_towards_the_customer(api_as, sue, zhang):
    client = api_as(sue)
    assert client.get(f"/api/customers/{zhang.code}").json()["stats"]["frequency"] == 0
    response = client.post(f"/api/customers/{zhang.code}/orders", {"amount": "88.50", "payment_method": "alipay"},
                           content_type="application/json")
    assert response.status_code == 201, response.content
    assert zhang.orders.count() == 1
    stats = client.get(f"/api/customers/{zhang.code}").json()["stats"]
    assert stats["frequency"] == 1
    assert Decimal(stats["monetary"]) == Decimal("88.50")
    order = zhang.orders.get()
    assert order.payment_method == "alipay" and order.created_by == sue


def test_the_amount_is_the_total_of_the_lines_when_left_out(api_as, alice, zhang):
    tea = Product.objects.create(name="龙井", price=Decimal("120"), category=Category.objects.create(name="茶叶"))
    response = api_as(alice).post(f"/api/customers/{zhang.code}/orders", {"lines": [
        {"product": tea.pk, "quantity": "2"},
        {"product_name": "茶杯", "quantity": "1", "unit_price": "35.5"},
    ]}, content_type="application/json")
    assert response.status_code == 201, response.content
    order = Order.objects.get(pk=response.json()["id"])
    assert order.amount == Decimal("275.50")
    assert sorted(line.product_name for line in order.lines.all()) == ["茶杯", "龙井"]
    assert {line["category"] for line in response.json()["lines"]} == {"茶叶", None}


def test_a_line_without_price_is_named(api_as, alice, zhang):
    response = api_as(alice).post(f"/api/customers/{zhang.code}/orders",
                                  {"lines": [{"product_name": "茶杯"}]}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"] == {"lines.0.unit_price": ["请填写单价"]}
    assert not Order.objects.exists()


def test_an_order_in_the_future_is_refused(api_as, alice, zhang):
    later = (timezone.now() + datetime.timedelta(days=3)).isoformat()
    response = api_as(alice).post(f"/api/customers/{zhang.code}/orders", {"amount": "10", "ordered_at": later},
                                  content_type="application/json")
    assert response.status_code == 422
    assert "消费时间不能晚于今天" in response.json()["errors"]["ordered_at"][0]


def test_a_negative_amount_is_refused(api_as, alice, zhang):
    response = api_as(alice).post(f"/api/customers/{zhang.code}/orders", {"amount": "-1"},
                                  content_type="application/json")
    assert response.status_code == 422
    assert response.json()["errors"]["amount"] == ["金额不能为负数"]


def test_a_viewer_may_not_add_orders(api_as, victor, zhang):
    response = api_as(victor).post(f"/api/customers/{zhang.code}/orders", {"amount": "10"},
                                   content_type="application/json")
    assert response.status_code == 403
    assert not Order.objects.exists()


def test_a_sales_rep_cannot_see_others_orders(api_as, sam, li):
    make_order(li)
    assert api_as(sam).get(f"/api/customers/{li.code}/orders").status_code == 404


def test_orders_are_listed_newest_first_in_constant_queries(api_as, alice, zhang, django_assert_max_num_queries):
    client = api_as(alice)
    cat = Category.objects.create(name="茶叶")
    for days in range(1, 21):
        order = make_order(zhang, amount="10.00", days_ago=days)
        order.lines.create(product_name="龙井", category=cat, quantity=1, unit_price=Decimal("10"))
    # token lookup + touch, customer, tags, orders, lines, categories
    # 8th: token auth's lock-out check; on SQLite 2 more: the token refresh's short busy_timeout, set and reset
    with django_assert_max_num_queries(10):
        response = client.get(f"/api/customers/{zhang.code}/orders", {"limit": 200})
    items = response.json()["items"]
    assert len(items) == 20
    assert items[0]["ordered_at"] > items[-1]["ordered_at"]
    assert items[0]["lines"][0]["category"] == "茶叶"


def test_an_order_refunded_over_the_api_leaves_the_stats_and_comes_back(api_as, sue, zhang):
    make_order(zhang, "100.00", days_ago=10)
    order = make_order(zhang, "250.00", days_ago=2)
    client = api_as(sue)
    url = f"/api/customers/{zhang.code}/orders/{order.pk}"
    response = client.patch(url, {"status": "refunded"}, content_type="application/json")
    assert response.status_code == 200, response.content
    assert response.json()["status"] == "refunded" and response.json()["id"] == order.pk
    stats = client.get(f"/api/customers/{zhang.code}").json()["stats"]
    assert (stats["frequency"], Decimal(stats["monetary"])) == (1, Decimal("100.00"))
    assert client.patch(url, {"status": "completed"}, content_type="application/json").status_code == 200
    stats = client.get(f"/api/customers/{zhang.code}").json()["stats"]
    assert (stats["frequency"], Decimal(stats["monetary"])) == (2, Decimal("350.00"))


def test_an_order_status_patch_refuses_what_it_may_not_do(api_as, sam, victor, zhang, li):
    order, lis = make_order(zhang, "80.00", days_ago=3), make_order(li, "90.00", days_ago=3)
    as_sam = api_as(sam)
    bad = as_sam.patch(f"/api/customers/{zhang.code}/orders/{order.pk}", {"status": "lost"},
                       content_type="application/json")
    assert bad.status_code == 422 and "未知的订单状态：lost" in bad.content.decode()
    extra = as_sam.patch(f"/api/customers/{zhang.code}/orders/{order.pk}", {"status": "refunded", "amount": "1"},
                         content_type="application/json")
    assert extra.status_code == 422
    # another customer's order through the rep's own customer, and a customer the rep does not see: 404
    assert as_sam.patch(f"/api/customers/{zhang.code}/orders/{lis.pk}", {"status": "refunded"},
                        content_type="application/json").status_code == 404
    assert as_sam.patch(f"/api/customers/{li.code}/orders/{lis.pk}", {"status": "refunded"},
                        content_type="application/json").status_code == 404
    assert api_as(victor).patch(f"/api/customers/{zhang.code}/orders/{order.pk}", {"status": "refunded"},
                                content_type="application/json").status_code == 403
    assert set(Order.objects.values_list("status", flat=True)) == {"completed"}
