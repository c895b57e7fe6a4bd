"""Adding orders from the customer page."""

import re
from decimal import Decimal

import pytest
from django.utils import timezone

from kehu.sales.models import Category, Order, Product
from tests.conftest import make_order
from tests.web.helpers import client_for, htmx

pytestmark = pytest.mark.django_db


def order_data(**overrides) -> dict:
    data = {
        "order-ordered_at": timezone.localtime().strftime("%Y-%m-%dT%H:%M"),
        "order-amount": "",
        "order-payment_method": "wechat_pay",
        "order-sales_channel": "store",
        "order-status": "completed",
        "lines-TOTAL_FORMS": "3", "lines-INITIAL_FORMS": "0", "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000",
        # what the browser sends for untouched line rows (quantity starts at 1)
        "lines-0-quantity": "1", "lines-1-quantity": "1", "lines-2-quantity": "1",
    }
    return {**data, **overrides}


def figure(html: str, name: str) -> str:
    return re.search(rf'data-figure="{name}">([^<]*)<', html).group(1).strip()


def test_it_adds_an_order_and_the_key_figures_change(alice, zhang):
    make_order(zhang, "100.00", days_ago=5)
    c = client_for(alice)
    page = c.get(f"/customers/{zhang.code}/").content.decode()
    assert figure(page, "orders") == "1" and figure(page, "total") == "¥100.00"
    r = c.post(f"/orders/add/{zhang.code}/", order_data(**{"order-amount": "300"}), **htmx())
    assert r.status_code == 200
    assert 'id="key-figures"' in r.content.decode() and 'hx-swap-oob="true"' in r.content.decode()
    page = c.get(f"/customers/{zhang.code}/").content.decode()
    assert figure(page, "orders") == "2"
    assert figure(page, "total") == "¥400.00"
    assert figure(page, "average") == "¥200.00"
    assert zhang.orders.count() == 2


def test_it_totals_the_lines_when_no_amount_is_given(alice, zhang):
    cat = Category.objects.create(name="护肤")
    cream = Product.objects.create(name="面霜", category=cat, price=Decimal("88.00"))
    data = order_data(**{
        "lines-0-product": cream.pk, "lines-0-quantity": "2",
        "lines-1-product_name": "手工皂", "lines-1-unit_price": "15.5",
    })
    r = client_for(alice).post(f"/orders/add/{zhang.code}/", data, **htmx())
    html = r.content.decode()
    order = Order.objects.get(customer=zhang)
    assert order.amount == Decimal("191.50")
    assert sorted(line.product_name for line in order.lines.all()) == ["手工皂", "面霜"]
    assert order.lines.get(product=cream).category == cat
    assert "面霜" in html and "¥191.50" in html


def test_it_shows_chinese_errors_inline_and_saves_nothing(alice, zhang):
    c = client_for(alice)
    r = c.post(f"/orders/add/{zhang.code}/", order_data(**{"order-amount": "-5"}), **htmx())
    assert "金额不能为负数" in r.content.decode()
    r = c.post(f"/orders/add/{zhang.code}/", order_data(), **htmx())
    assert "请填写金额，或填写商品明细" in r.content.decode()
    r = c.post(f"/orders/add/{zhang.code}/", order_data(**{"order-ordered_at": "2999-01-01T10:00",
                                                          "order-amount": "10"}), **htmx())
    assert "消费时间不能晚于今天" in r.content.decode()
    assert not Order.objects.exists()


def test_it_shows_an_error_on_a_half_filled_line(alice, zhang):
    r = client_for(alice).post(f"/orders/add/{zhang.code}/", order_data(**{"lines-0-unit_price": "12"}), **htmx())
    assert "请选择商品或填写商品名称" in r.content.decode()
    assert not Order.objects.exists()


def test_it_redirects_a_plain_browser_back_to_the_customer(alice, zhang):
    r = client_for(alice).post(f"/orders/add/{zhang.code}/", order_data(**{"order-amount": "50"}))
    assert r.status_code == 302 and r.url == f"/customers/{zhang.code}/#orders"


def test_it_refuses_orders_from_a_viewer_and_for_others_customers(victor, sam, zhang, li):
    assert client_for(victor).post(f"/orders/add/{zhang.code}/", order_data(**{"order-amount": "1"})).status_code == 403
    assert client_for(sam).post(f"/orders/add/{li.code}/", order_data(**{"order-amount": "1"})).status_code == 404
    assert not Order.objects.exists()
