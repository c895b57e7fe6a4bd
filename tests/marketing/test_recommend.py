"""Recommendations on a small hand-made basket set, and the playbook on the customer page.

Baskets (counted orders): u1 {A, B}, {A};  u2 {A, B, C};  u3 {B, C} and a refunded {A};  u4 {C, D};  u5 {E},
u5 declares 饮料 (C, D) as preferred. Buyers: A 2 (u1, u2 — the refund does not count), B 3, C 3, D 1, E 1.
Cosine: A–B 2/√6 = 0.816, A–C 1/√6 = 0.408, B–C 2/√9 = 0.667, C–D 1/√3 = 0.577.

u1 bought A (twice: regular, left out) and B: B ← A 0.816; C ← A 0.408 + B 0.667 = 1.075 → [C, B].
u5 bought only E (never co-bought) and prefers 饮料: C 0.5, D 0.5 (ties by name) → [C, D].
u3 bought B, C: A ← B 0.816 + C 0.408 = 1.225; B ← C 0.667; C ← B 0.667; D ← C 0.577 → [A, B, C, D].
"""

from decimal import Decimal

import pytest

from kehu.engagement.models import Preference
from kehu.marketing.models import Playbook
from kehu.marketing.recommend import recommend, suggestion_text
from kehu.sales.models import Category, OrderLine, OrderStatus, Product
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer, make_order


def basket(customer, *products, status=OrderStatus.COMPLETED):
    order = make_order(customer, amount=str(10 * len(products)), status=status)
    for p in products:
        OrderLine.objects.create(order=order, product=p, product_name=p.name, category=p.category,
                                 quantity=Decimal("1"), unit_price=Decimal("10"))


@pytest.fixture
def shop(db):
    fruit, drink, snack = (Category.objects.create(name=n) for n in ("水果", "饮料", "零食"))
    p = {name: Product.objects.create(name=name, category=cat)
         for name, cat in (("A", fruit), ("B", fruit), ("C", drink), ("D", drink), ("E", snack))}
    u = {i: make_customer(name=f"u{i}") for i in range(1, 6)}
    basket(u[1], p["A"], p["B"])
    basket(u[1], p["A"])
    basket(u[2], p["A"], p["B"], p["C"])
    basket(u[3], p["B"], p["C"])
    basket(u[3], p["A"], status=OrderStatus.REFUNDED)
    basket(u[4], p["C"], p["D"])
    basket(u[5], p["E"])
    Preference.objects.create(customer=u[5]).categories.add(drink)
    return u


def names(result, customer):
    return [p.name for p in result[customer.pk]]


def test_it_recommends_exactly_the_hand_computed_products(shop):
    result = recommend([c.pk for c in shop.values()])
    assert names(result, shop[1]) == ["C", "B"]
    assert names(result, shop[5]) == ["C", "D"]
    assert names(result, shop[3]) == ["A", "B", "C", "D"]


def test_it_limits_the_list_and_fills_the_merge_field(shop):
    result = recommend([shop[3].pk], n=2)
    assert names(result, shop[3]) == ["A", "B"]
    assert suggestion_text(result[shop[3].pk]) == "A、B"


def test_a_customer_without_purchases_or_preferences_gets_nothing(shop):
    nobody = make_customer(name="新人")
    assert recommend([nobody.pk]) == {nobody.pk: []}


def test_the_customer_page_shows_suggestions_and_the_playbook_action(client, alice, shop):
    import datetime

    CustomerSegment.objects.update_or_create(customer=shop[1], defaults={
        "changed_on": datetime.date.today(), "rfm_class": "重要挽留客户", "lifecycle": "沉睡客户"})
    client.force_login(alice)
    html = client.get(shop[1].get_absolute_url()).content.decode()
    assert "主动回访了解流失原因" in html and "唤醒优惠券与专人问候" in html
    section = html[html.index('id="recommendations"'):]
    assert section.index(">C<") < section.index(">B<")


def test_a_shop_can_edit_its_playbook(client, alice, shop):
    import datetime

    CustomerSegment.objects.update_or_create(customer=shop[1], defaults={
        "changed_on": datetime.date.today(), "rfm_class": "重要价值客户", "frequency_tier": "低频",
        "value_tier": "高价值"})
    client.force_login(alice)
    client.get(shop[1].get_absolute_url())
    Playbook.objects.filter(class_name="重要价值客户").update(action="店长亲自致电")
    html = client.get(shop[1].get_absolute_url()).content.decode()
    assert "店长亲自致电" in html and "定期推送高品质内容保持黏性" in html
