"""Odd input never breaks a page for everyone: codes are checked where they come in (page, API, import), codes
stored before that still open, parameters that mean nothing are a 400/422 naming them, a stale edit is a
conflict, and the 500 page is kehu's own."""

import datetime

import pytest
from django.conf import settings
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from kehu.customers.models import Customer
from kehu.exchange.importer import import_file
from kehu.sales.models import Order
from tests.api.conftest import token_client
from tests.conftest import make_customer
from tests.exchange.helpers import write_xlsx
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db

NEW = {"name": "王芳", "kind": "person", "registered_at": "2024-03-01T10:00"}  # the customer form's required fields
CODE_MESSAGE = "客户编号只能由字母、数字、“-”、“_”和“.”组成"


# ---------- one rule for codes, wherever they come in ----------

@pytest.mark.parametrize("code", ["A/1", "50%", "..", ".hidden", "a b", "x?y", "编号#1"])
def test_the_new_customer_page_refuses_a_code_that_cannot_be_an_address(alice, code):
    page = client_for(alice).post("/customers/new/", {**NEW, "code": code})
    assert page.status_code == 200
    assert CODE_MESSAGE in page.content.decode()
    assert not Customer.objects.exists()


@pytest.mark.parametrize("code", ["KH-2024_01.a", "vip.007", "客户-上海-01", "_x"])
def test_it_accepts_letters_of_any_script_digits_dash_underscore_and_dot(alice, code):
    page = client_for(alice).post("/customers/new/", {**NEW, "code": code})
    assert page.status_code == 302
    assert Customer.objects.get().code == code


def test_the_api_refuses_the_same_codes_with_the_same_message(alice):
    answer = token_client(alice).post("/api/customers", {"name": "王芳", "code": "A/1"},
                                      content_type="application/json")
    assert answer.status_code == 422
    assert CODE_MESSAGE in answer.json()["errors"]["code"][0]
    assert not Customer.objects.exists()


def test_the_message_is_english_for_someone_who_chose_english(alice):
    client = client_for(alice)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    page = client.post("/customers/new/", {**NEW, "code": "A/1"}).content.decode()
    assert "A customer code may hold only letters, digits" in page


def test_an_import_rejects_the_row_and_names_it(tmp_path, alice):
    path = write_xlsx(tmp_path / "客户.xlsx", {"会员": [
        ["客户编号", "姓名", "手机"], ["A/1", "斜杠客户", "13500001111"], ["B-2", "正常客户", "13500002222"]]})
    result = import_file(path, user=alice)
    assert list(Customer.objects.values_list("code", flat=True)) == ["B-2"]
    [problem] = [p for p in result.problems if p.level == "error"]
    assert (problem.sheet, problem.row) == ("会员", 2)
    assert CODE_MESSAGE in problem.message


# ---------- codes stored before the rule still work ----------

@pytest.mark.parametrize("code", ["A/1", "50%", "..", "a b?#"])
def test_a_customer_with_a_code_from_before_the_rule_lists_opens_edits_and_deletes(alice, code):
    old = make_customer(name="老客户", code=code)
    client = client_for(alice)
    listing = client.get("/customers/")
    assert listing.status_code == 200
    url = old.get_absolute_url()
    assert f'href="{url}"' in listing.content.decode()
    assert client.get(url).status_code == 200
    edit = reverse("customers:edit", args=[code])
    form = client.get(edit)
    assert form.status_code == 200
    saved = client.post(edit, {**NEW, "name": "老客户改名", "code": code, "version": old.version})
    assert saved.status_code == 302
    assert Customer.objects.get(pk=old.pk).name == "老客户改名"  # its code may stay as it is
    assert client.post(reverse("customers:delete", args=[code])).status_code == 302
    assert not Customer.objects.filter(pk=old.pk).exists()


# ---------- parameters that mean nothing ----------

ODD_PARAMETERS = [("owner", "²"), ("owner", "99999999999999999999999"), ("owner", "-1"), ("rule", "²"),
                  ("rule", "99999999999999999999999"), ("cursor", "forged")]


@pytest.mark.parametrize("name, value", ODD_PARAMETERS)
def test_the_list_page_answers_400_naming_the_parameter(alice, zhang, name, value):
    page = client_for(alice).get("/customers/", {name: value})
    assert page.status_code == 400
    html = page.content.decode()
    assert "请求无效" in html and name in html and "kehu" in html


@pytest.mark.parametrize("name, value", ODD_PARAMETERS)
def test_the_api_answers_422_naming_the_parameter(alice, zhang, name, value):
    answer = token_client(alice).get("/api/customers", {name: value})
    assert answer.status_code == 422
    assert list(answer.json()["errors"]) == [name]


@pytest.mark.parametrize("export", ["customers.csv", "customers.xlsx", "orders.csv", "report.xlsx"])
def test_exports_answer_400_for_an_owner_that_is_no_id(alice, zhang, export):
    assert client_for(alice).get(f"/exchange/{export}", {"owner": "²"}).status_code == 400


def test_a_lone_surrogate_in_a_json_body_is_a_400_and_nothing_is_saved(alice):
    answer = token_client(alice).post("/api/customers", '{"name": "\\ud800王"}', content_type="application/json")
    assert answer.status_code == 400
    assert "JSON" in answer.json()["detail"]
    assert not Customer.objects.exists()


@pytest.mark.parametrize("when", ["0001-01-01T00:00:00", "0001-01-01T00:00:00+00:00", "1899-12-31T23:00:00"])
def test_an_order_in_year_1_is_refused_with_a_message(alice, zhang, when):
    answer = token_client(alice).post(f"/api/customers/{zhang.code}/orders", {"ordered_at": when, "amount": "10"},
                                content_type="application/json")
    assert answer.status_code == 422
    assert "消费时间不能早于 1900-01-01" in answer.json()["errors"]["ordered_at"][0]
    assert not Order.objects.exists()


def test_the_order_form_on_the_page_refuses_year_1_too(alice, zhang):
    page = client_for(alice).post(reverse("sales:add", args=[zhang.code]), {
        "order-ordered_at": "0001-01-01T10:00", "order-amount": "10",
        "lines-TOTAL_FORMS": "0", "lines-INITIAL_FORMS": "0"})
    assert "消费时间不能早于 1900-01-01" in page.content.decode()
    assert not Order.objects.exists()


def test_a_registration_date_in_year_1_is_refused_on_the_customer_form(alice):
    page = client_for(alice).post("/customers/new/", {**NEW, "registered_at": "0001-01-01T00:00"})
    assert "注册时间不能早于 1900-01-01" in page.content.decode()
    assert not Customer.objects.exists()


# ---------- an edit that does not say which version it changes ----------

@pytest.mark.parametrize("version", [None, "0", ""])
def test_an_edit_without_its_version_is_a_conflict_and_saves_nothing(alice, mary, zhang, version):
    mary_form = {**NEW, "name": "张伟（新）", "code": zhang.code, "version": zhang.version}
    assert client_for(mary).post(reverse("customers:edit", args=[zhang.code]), mary_form).status_code == 302
    stale = {**NEW, "name": "旧的名字", "code": zhang.code}
    if version is not None:
        stale["version"] = version
    page = client_for(alice).post(reverse("customers:edit", args=[zhang.code]), stale)
    assert page.status_code == 409
    zhang.refresh_from_db()
    assert zhang.name == "张伟（新）"
    assert zhang.version == 2


# ---------- the 500 page ----------

@pytest.mark.parametrize("language, text", [("zh-hans", "服务器出错"), ("en", "Server error")])
def test_the_500_page_is_kehus_own_in_both_languages(language, text):
    with translation.override(language):
        html = render_to_string("500.html")  # as Django's server_error renders it: no request, no user
    assert f"<title>{text} · kehu</title>" in html and "kehu.css" in html


def test_a_date_in_year_1_never_reaches_the_database_through_the_api(alice):
    answer = token_client(alice).post("/api/customers", {"name": "王芳", "registered_at": "0001-01-01T00:00:00"},
                                content_type="application/json")
    assert answer.status_code == 422
    assert datetime.date(1900, 1, 1).isoformat() in answer.json()["errors"]["registered_at"][0]


def test_an_edit_that_leaves_the_code_empty_keeps_the_customers_code(alice, zhang):
    page = client_for(alice).post(reverse("customers:edit", args=[zhang.code]),
                                  {**NEW, "name": "张伟", "code": "", "version": zhang.version})
    assert page.status_code == 302
    assert page.url == f"/customers/{zhang.code}/"
    assert Customer.objects.get(pk=zhang.pk).code == zhang.code
