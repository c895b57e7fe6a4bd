import datetime

import pytest
from django.db import connection

from kehu.customers.forms import CustomerForm
from kehu.customers.models import Customer
from kehu.customers.services import EditConflict, save_customer_form
from tests.conftest import make_customer

pytestmark = pytest.mark.django_db


def form_data(**overrides) -> dict:
    data = {"name": "王芳", "kind": "person", "registered_at": "2024-03-01T10:00", "mobile": "139 1111 2222"}
    return {**data, **overrides}


def test_it_normalises_the_mobile_and_generates_a_code(alice):
    form = CustomerForm(data=form_data(), user=alice)
    assert form.is_valid(), form.errors
    customer = save_customer_form(form)
    customer.refresh_from_db()
    assert customer.mobile == "+8613911112222"
    assert customer.code.startswith("KH")


def test_it_names_the_field_of_a_wrong_mobile_in_chinese(alice):
    form = CustomerForm(data=form_data(mobile="1391111"), user=alice)
    assert not form.is_valid()
    assert "不是有效的手机号码" in form.errors["mobile"][0]


def test_it_refuses_a_birthday_in_the_future(alice):
    tomorrow = datetime.date.today() + datetime.timedelta(days=2)
    form = CustomerForm(data=form_data(birthday=tomorrow.isoformat()), user=alice)
    assert not form.is_valid()
    assert "生日不能晚于今天" in form.errors["birthday"][0]


def test_it_refuses_a_duplicate_mobile_and_points_to_the_existing_customer(alice, zhang):
    form = CustomerForm(data=form_data(mobile="+86 138-1234-5678"), user=alice)
    assert not form.is_valid()
    assert form.duplicate_of == zhang
    assert zhang.code in form.errors["mobile"][0]


def test_a_second_save_of_the_same_version_is_a_conflict(alice):
    customer = make_customer(name="赵敏")
    first = CustomerForm(data=form_data(name="赵敏一", version=1), instance=Customer.objects.get(pk=customer.pk),
                         user=alice)
    second = CustomerForm(data=form_data(name="赵敏二", version=1), instance=Customer.objects.get(pk=customer.pk),
                          user=alice)
    assert first.is_valid() and second.is_valid()
    save_customer_form(first)
    with pytest.raises(EditConflict):
        save_customer_form(second)
    customer.refresh_from_db()
    assert customer.name == "赵敏一"
    assert customer.version == 2


def test_no_plaintext_contact_detail_reaches_the_database(zhang):
    with connection.cursor() as cur:
        cur.execute("SELECT mobile, email, wechat FROM customers_customer WHERE id = %s", [zhang.pk])
        row = cur.fetchone()
    assert "13812345678" not in "".join(row)
    assert "zhangwei" not in "".join(row)
    assert Customer.objects.by_mobile("+8613812345678").get() == zhang


def test_a_sales_rep_owns_what_they_create_and_cannot_edit_contacts_later(sam):
    form = CustomerForm(data=form_data(), user=sam)
    assert "owner" not in form.fields
    assert form.is_valid(), form.errors
    customer = save_customer_form(form)
    assert customer.owner == sam
    assert "mobile" not in CustomerForm(instance=customer, user=sam).fields
