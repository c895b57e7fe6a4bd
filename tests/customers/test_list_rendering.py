"""The customer list's rendering: it reads only the contact fields it shows, builds the same links and menus as
before, and its filter menus come from the store as it is now (an index walk, no cached copy)."""

import datetime

import pytest
from django.template import Context, Template

from kehu.customers.menus import distinct_values
from kehu.customers.models import Customer
from kehu.customers.table import detail_url_maker
from kehu.lib import fields as encrypted_fields
from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db

LIST = "/customers/"
CONTACTS = {"mobile": "+8613700001111", "email": "wang@example.com", "wechat": "wang_wx_01",
            "address": "深圳市南山区科技园1号", "birthday": datetime.date(1990, 3, 15)}


@pytest.fixture
def decrypted(monkeypatch) -> list[str]:
    """Every plaintext the store's encrypted fields give back while the test runs."""
    seen: list[str] = []
    real = encrypted_fields.decrypt

    def counting(value):
        text = real(value)
        seen.append(text)
        return text

    monkeypatch.setattr(encrypted_fields, "decrypt", counting)
    return seen


@pytest.fixture
def contacts(sam) -> list[Customer]:
    return [make_customer(name=f"王{i}", owner=sam, **{**CONTACTS, "mobile": f"+861370000{i:04d}"})
            for i in range(3)]


@pytest.mark.parametrize("who", ["alice", "sam", "victor"])
def test_the_list_decrypts_the_mobile_alone_and_only_when_its_column_is_shown(who, request, contacts, decrypted):
    user = request.getfixturevalue(who)
    client = client_for(user)
    html = client.get(LIST).content.decode()  # the default columns show the mobile
    assert sorted(decrypted) == sorted(c.mobile for c in contacts)
    masked = not user.sees_contact_details  # sales reps and viewers see 137****0001
    assert ("137****0001" in html) == masked and ("137 0000 0001" in html) == (not masked)
    for value in ("wang@example.com", "wang_wx_01", "科技园", "1990-03-15"):
        assert value not in html

    decrypted.clear()
    html = client.get(LIST, {"cols": "code,name,place,total_spend"}).content.decode()
    assert decrypted == []
    assert all(c.code in html for c in contacts)


def test_the_customer_page_still_decrypts_what_it_shows(alice, contacts, decrypted):
    html = client_for(alice).get(contacts[0].get_absolute_url()).content.decode()
    assert {"wang@example.com", "wang_wx_01", "深圳市南山区科技园1号"} <= set(decrypted)
    assert "wang@example.com" in html


@pytest.mark.parametrize("code", ["KH0000123", "A/1", "50%", "..", "带空格 的", "a&b<c>", "x?y#z"])
def test_the_rows_link_where_get_absolute_url_does(code):
    customer = Customer(code=code, name="甲")
    assert detail_url_maker()(code) == customer.get_absolute_url()


def test_the_menus_list_each_value_once_in_the_databases_order(alice, sam):
    places = [("浙江省", "杭州市"), ("广东省", "深圳市"), ("广东省", "广州市"), ("广东省", "深圳市"),
              ("北京市", "北京市"), ("", "无省份市")]
    for i, (province, city) in enumerate(places):
        make_customer(name=f"客户{i}", province=province, city=city, industry="零售" if i % 2 else "",
                      owner=sam if i < 3 else None)
    everyone = Customer.objects.all()

    def expected(qs, field):
        return list(qs.exclude(**{field: ""}).order_by(field).values_list(field, flat=True).distinct())

    for field in ("province", "city", "industry"):
        assert distinct_values(alice, field) == expected(everyone, field)
    assert distinct_values(alice, "city", "广东省") == expected(everyone.filter(province="广东省"), "city")
    # a sales rep's menus hold only the values of the rep's own customers
    own = everyone.filter(owner=sam)
    assert distinct_values(sam, "province") == expected(own, "province")
    assert set(distinct_values(sam, "province")) == {"浙江省", "广东省"}
    assert set(distinct_values(sam, "city")) == {"杭州市", "深圳市", "广州市"}
    assert distinct_values(sam, "city", "浙江省") == ["杭州市"]
    assert distinct_values(sam, "industry") == ["零售"]


def test_a_new_province_is_in_the_menu_on_the_next_page(alice):
    make_customer(name="甲", province="广东省", city="深圳市")
    client = client_for(alice)
    assert "西藏自治区" not in client.get(LIST).content.decode()
    make_customer(name="乙", province="西藏自治区", city="拉萨市")
    assert '<option value="西藏自治区">西藏自治区</option>' in client.get(LIST).content.decode()
    assert '<option value="拉萨市">拉萨市</option>' in client.get(LIST, {"province": "西藏自治区"}).content.decode()


def test_the_options_tag_marks_the_choice_and_escapes():
    template = Template('{% load customer_list %}{% options choices chosen prefix="排序：" %}')
    html = template.render(Context({"choices": [("a", "甲"), (2, "<b>"), "c&d"], "chosen": "2"}))
    assert html == ('<option value="a">排序：甲</option><option value="2" selected>排序：&lt;b&gt;</option>'
                    '<option value="c&amp;d">排序：c&amp;d</option>')
