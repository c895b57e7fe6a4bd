"""Custom rule segments (规则分群): saved rules list their members on the customer list and in the API,
describe themselves, and are built with the form by admins and managers."""

import json

import pytest
from django.urls import reverse

from kehu.customers.models import Tag
from kehu.segments.models import CustomerSegment, RuleSegment
from kehu.segments.rule_views import RuleSegmentForm
from tests.api.conftest import token_client
from tests.conftest import make_customer

GD_FREQUENT = {"op": "and", "items": [
    {"field": "province", "op": "in", "values": ["广东省", "浙江省"]},
    {"field": "frequency", "op": "gte", "values": [3]},
]}


def classes(customer, **fields):
    defaults = {"changed_on": "2026-01-01", "frequency": 1}
    return CustomerSegment.objects.create(customer=customer, **{**defaults, **fields})


@pytest.fixture
def shop(db, sam):
    """Who matches GD_FREQUENT: A (广东, 5 orders, sam's) and C (浙江, 3); not B (广东, 1), D (江苏, 9), E."""
    a = make_customer(code="C-A", name="甲", owner=sam)
    b = make_customer(code="C-B", name="乙")
    c = make_customer(code="C-C", name="丙", province="浙江省", city="杭州市")
    d = make_customer(code="C-D", name="丁", province="江苏省", city="南京市")
    make_customer(code="C-E", name="戊")  # never bought: no classes at all
    classes(a, frequency=5, rfm_class="重要价值客户")
    classes(b, frequency=1, rfm_class="一般挽留客户")
    classes(c, frequency=3, rfm_class="重要保持客户")
    classes(d, frequency=9, rfm_class="重要价值客户")
    return {"a": a, "b": b, "c": c, "d": d}


def codes_on_page(response) -> set[str]:
    text = response.content.decode()
    return {code for code in ("C-A", "C-B", "C-C", "C-D", "C-E") if f">{code}<" in text}


def test_it_lists_exactly_the_members_on_the_customer_list(client, alice, shop):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(alice)
    response = client.get(reverse("customers:list"), {"rule": rule.pk})
    assert codes_on_page(response) == {"C-A", "C-C"}
    assert "规则分群：粤浙常客" in response.content.decode()


def test_it_combines_the_rule_with_other_list_filters(client, alice, shop):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(alice)
    response = client.get(reverse("customers:list"), {"rule": rule.pk, "province": "浙江省"})
    assert codes_on_page(response) == {"C-C"}


def test_it_shows_a_sales_rep_only_their_own_members(client, sam, shop):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(sam)
    assert codes_on_page(client.get(reverse("customers:list"), {"rule": rule.pk})) == {"C-A"}


def test_it_matches_nobody_for_an_unknown_rule(client, alice, shop):
    client.force_login(alice)
    response = client.get(reverse("customers:list"), {"rule": "999999"})
    assert codes_on_page(response) == set()
    assert "规则分群：不存在或已删除" in response.content.decode()
    malformed = client.get(reverse("customers:list"), {"rule": "abc"})
    assert malformed.status_code == 400 and "参数 rule" in malformed.content.decode()


def test_it_lists_each_member_once_when_a_tag_condition_joins(client, alice, shop):
    vip, gold = Tag.objects.create(name="VIP"), Tag.objects.create(name="金卡")
    shop["a"].tags.add(vip, gold)
    rule = RuleSegment.objects.create(name="会员", rules={"op": "and", "items": [
        {"field": "tags", "op": "in", "values": ["VIP", "金卡"]}]})
    client.force_login(alice)
    response = client.get(reverse("customers:list"), {"rule": rule.pk})
    assert response.content.decode().count(">C-A<") == 1
    assert codes_on_page(response) == {"C-A"}


def test_it_gives_the_members_in_the_api(alice, sam, shop):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    response = token_client(alice).get("/api/customers", {"rule": rule.pk})
    assert response.status_code == 200
    assert {item["code"] for item in response.json()["items"]} == {"C-A", "C-C"}
    assert token_client(alice).get("/api/customers", {"rule": 999999}).json()["items"] == []
    assert {i["code"] for i in token_client(sam).get("/api/customers", {"rule": rule.pk}).json()["items"]} == {"C-A"}


def test_it_describes_itself_in_words(db, sam):
    rule = RuleSegment(name="x", rules={"op": "and", "items": [
        {"field": "province", "op": "in", "values": ["广东省", "浙江省"]},
        {"field": "frequency", "op": "gte", "values": [3]},
        {"field": "owner", "op": "in", "values": [sam.pk]}]})
    assert rule.describe() == f"广东省或浙江省 且 订单数 ≥ 3 笔 且 负责人：{sam.display_name}"


def test_it_uses_the_latest_classes_for_class_rules(db, shop):
    rule = RuleSegment.objects.create(name="重要价值", rules={"op": "or", "items": [
        {"field": "rfm_class", "op": "in", "values": ["重要价值客户"]}]})
    from kehu.customers.models import Customer

    assert {c.code for c in rule.members(Customer.objects.all())} == {"C-A", "C-D"}


def test_it_refuses_rules_that_do_not_validate(db):
    from django.core.exceptions import ValidationError

    rule = RuleSegment(name="坏", rules={"op": "and", "items": [{"field": "frequency", "op": "in", "values": [3]}]})
    with pytest.raises(ValidationError):
        rule.full_clean()


def builder(**rows):
    data = {"name": "粤浙常客", "combine": "and", "advanced": ""}
    data.update(rows)
    return data


def test_it_builds_the_rules_from_the_form_rows(client, mary, shop):
    client.force_login(mary)
    response = client.post(reverse("segments:rule_create"), builder(
        combine="or", field_1="province", op_1="in", values_1="广东省、浙江省",
        field_2="frequency", op_2="gte", values_2="3", field_3="overdue", op_3="in", values_3="是",
        field_4="kind", op_4="in", values_4="个人"))
    assert response.status_code == 302
    rule = RuleSegment.objects.get()
    assert rule.rules == {"op": "or", "items": [
        {"field": "province", "op": "in", "values": ["广东省", "浙江省"]},
        {"field": "frequency", "op": "gte", "values": [3]},
        {"field": "overdue", "op": "in", "values": [True]},
        {"field": "kind", "op": "in", "values": ["person"]}]}
    assert rule.created_by == mary


def test_it_rejects_a_bad_row_naming_it_in_chinese(client, alice, db):
    client.force_login(alice)
    response = client.post(reverse("segments:rule_create"), builder(
        field_1="province", op_1="in", values_1="广东省", field_2="frequency", op_2="gte", values_2="三次"))
    assert response.status_code == 200
    assert "第 2 行：订单数需要一个数字，而不是“三次”" in response.content.decode()
    assert not RuleSegment.objects.exists()


def test_it_saves_nested_groups_from_the_json_textarea(client, alice, db):
    rules = {"op": "and", "items": [{"field": "province", "op": "in", "values": ["广东省"]},
                                    {"op": "or", "items": [{"field": "frequency", "op": "gte", "values": [3]},
                                                           {"field": "tags", "op": "in", "values": ["VIP"]}]}]}
    client.force_login(alice)
    response = client.post(reverse("segments:rule_create"), builder(advanced=json.dumps(rules)))
    assert response.status_code == 302
    assert RuleSegment.objects.get().rules == rules


def test_it_rejects_bad_json_in_chinese(client, alice, db):
    client.force_login(alice)
    response = client.post(reverse("segments:rule_create"), builder(advanced='{"op": "and", "items": [}'))
    assert "JSON 格式错误" in response.content.decode()
    response = client.post(reverse("segments:rule_create"), builder(
        advanced=json.dumps({"op": "and", "items": [{"field": "rfm_class", "values": ["土豪"]}]})))
    assert "RFM分层没有“土豪”这一类" in response.content.decode()
    assert not RuleSegment.objects.exists()


def test_it_refuses_a_duplicate_name(client, alice, db):
    RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(alice)
    response = client.post(reverse("segments:rule_create"), builder(field_1="province", values_1="广东省"))
    assert "已有同名的规则分群" in response.content.decode()


def test_it_prefills_the_form_from_the_customer_list_filters(client, alice, db):
    client.force_login(alice)
    response = client.get(reverse("segments:rule_create"), {"province": "广东省", "tag": "VIP",
                                                             "rfm_class": "重要价值客户", "q": "张"})
    form = response.context["form"]
    assert form.initial["field_1"] == "province" and form.initial["values_1"] == "广东省"
    assert {form.initial[f"field_{i}"] for i in (2, 3)} == {"tags", "rfm_class"}
    assert response.context["skipped"] == ["搜索"]


def test_it_offers_saving_the_list_filters_as_a_rule_segment(client, alice, db):
    client.force_login(alice)
    response = client.get(reverse("customers:list"), {"province": "广东省"})
    assert reverse("segments:rule_create") + "?province=" in response.content.decode()


def test_it_refills_the_builder_when_editing(db):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    form = RuleSegmentForm(instance=rule)
    assert form.initial["values_1"] == "广东省、浙江省"
    assert form.initial["op_2"] == "gte" and form.initial["values_2"] == "3"


def test_it_edits_and_deletes(client, mary, db):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(mary)
    response = client.post(reverse("segments:rule_edit", args=[rule.pk]), builder(
        name="广东常客", field_1="province", op_1="in", values_1="广东省"))
    assert response.status_code == 302
    rule.refresh_from_db()
    assert rule.name == "广东常客" and rule.describe() == "广东省"
    client.post(reverse("segments:rule_delete", args=[rule.pk]))
    assert not RuleSegment.objects.exists()


def test_a_viewer_cannot_create_edit_or_delete(client, victor, db):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(victor)
    assert client.get(reverse("segments:rule_create")).status_code == 403
    assert client.post(reverse("segments:rule_create"), builder(field_1="province", values_1="广东省")).status_code \
        == 403
    assert client.post(reverse("segments:rule_edit", args=[rule.pk]), builder()).status_code == 403
    assert client.post(reverse("segments:rule_delete", args=[rule.pk])).status_code == 403
    assert RuleSegment.objects.count() == 1
    page = client.get(reverse("segments:rules")).content.decode()
    assert "粤浙常客" in page and reverse("segments:rule_create") not in page


def test_it_lists_rules_in_words_with_a_live_count_per_user(client, alice, sam, shop):
    rule = RuleSegment.objects.create(name="粤浙常客", rules=GD_FREQUENT)
    client.force_login(alice)
    response = client.get(reverse("segments:rules"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "广东省或浙江省 且 订单数 ≥ 3 笔" in page
    assert f"?rule={rule.pk}\">2</a>" in page
    CustomerSegment.objects.filter(customer=shop["b"]).update(frequency=4)   # live: B now matches
    assert f"?rule={rule.pk}\">3</a>" in client.get(reverse("segments:rules")).content.decode()
    client.force_login(sam)
    assert f"?rule={rule.pk}\">1</a>" in client.get(reverse("segments:rules")).content.decode()


def test_anonymous_visitors_are_sent_to_sign_in(client, db):
    assert client.get(reverse("segments:rules")).status_code == 302
