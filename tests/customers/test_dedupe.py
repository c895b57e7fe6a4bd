"""Likely duplicates: same mobile, e-mail or WeChat ID (by blind index), or same name and city."""

from io import StringIO

import pytest
from django.core.management import call_command

from kehu.customers.dedupe import duplicates_of, find_likely_duplicates
from tests.conftest import make_customer, make_order

pytestmark = pytest.mark.django_db


def groups_by_codes():
    return {tuple(g.codes): g.reasons for g in find_likely_duplicates()}


def test_it_finds_a_pair_with_the_same_mobile(zhang):
    again = make_customer(name="张伟伟", mobile="+8613812345678", city="广州市")
    assert groups_by_codes() == {(zhang.code, again.code): ["手机号相同"]}


def test_it_finds_a_pair_with_the_same_name_and_city(li):
    twin = make_customer(name="李娜", province="浙江省", city="杭州市", mobile="+8613900001111")
    make_customer(name="李娜", province="江苏省", city="南京市")  # same name elsewhere: another person
    assert groups_by_codes() == {(li.code, twin.code): ["姓名和城市相同"]}


def test_it_matches_e_mail_ignoring_case_and_wechat(zhang):
    by_mail = make_customer(name="Zhang", email="ZhangWei@Example.com", city="")
    by_wechat = make_customer(name="小张", wechat="zw_2024", city="")
    assert groups_by_codes() == {
        (zhang.code, by_mail.code): ["邮箱相同"],
        (zhang.code, by_wechat.code): ["微信号相同"],
    }


def test_it_gives_one_group_with_every_reason(zhang):
    again = make_customer(name="张伟", mobile="+8613812345678", wechat="zw_2024")
    groups = find_likely_duplicates()
    assert len(groups) == 1
    assert groups[0].reasons == ["手机号相同", "微信号相同", "姓名和城市相同"]
    assert groups[0].codes == [zhang.code, again.code]


def test_it_ignores_customers_without_contact_details():
    make_customer(name="王一", city="")
    make_customer(name="王二", city="")
    assert find_likely_duplicates() == []


def test_it_suggests_keeping_the_customer_with_more_orders(zhang):
    again = make_customer(name="张伟", mobile="+8613812345678")
    make_order(again)
    make_order(again)
    make_order(zhang)
    assert find_likely_duplicates()[0].suggested_kept().pk == again.pk


def test_it_lists_the_duplicates_of_one_customer(zhang, li):
    again = make_customer(name="张伟", mobile="+8613812345678")
    assert [(c.code, reasons) for c, reasons in duplicates_of(zhang)] == [
        (again.code, ["手机号相同", "姓名和城市相同"])]
    assert duplicates_of(li) == []


def test_the_command_prints_a_table(zhang, li):
    again = make_customer(name="张伟", mobile="+8613812345678")
    out = StringIO()
    call_command("dedupe", stdout=out)
    text = out.getvalue()
    assert zhang.code in text and again.code in text and li.code not in text
    assert "手机号相同" in text
    assert f"kehu merge {zhang.code} {again.code}" in text


def test_the_command_says_when_there_is_nothing(zhang, li):
    out = StringIO()
    call_command("dedupe", stdout=out)
    assert "没有发现" in out.getvalue()
