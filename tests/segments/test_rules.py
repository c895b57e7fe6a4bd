"""Rule segments: rules in words, as a queryset condition, and refused with a reason when they make no sense."""

import pytest

from kehu.customers.models import Customer, Tag
from kehu.segments import pipeline, rules
from tests.conftest import make_customer, make_order

GUANGDONG_REGULARS = {"op": "and", "items": [
    {"field": "province", "op": "in", "values": ["广东省"]},
    {"field": "frequency", "op": "gte", "values": [3]},
]}


def test_it_describes_rules_in_words():
    assert rules.describe(GUANGDONG_REGULARS) == "广东省 且 消费次数 ≥ 3 次"
    nested = {"op": "and", "items": [
        {"field": "province", "op": "in", "values": ["广东省", "浙江省"]},
        {"field": "recency_days", "op": "lte", "values": [90]},
        {"op": "or", "items": [{"field": "rfm_class", "op": "in", "values": ["重要价值客户", "重要发展客户"]},
                               {"field": "monetary", "op": "gte", "values": [5000]}]},
        {"field": "tags", "op": "not_in", "values": ["黑名单"]},
    ]}
    assert rules.describe(nested) == (
        "广东省或浙江省 且 最近 90 天内有消费 且 （RFM分层：重要价值客户、重要发展客户 或 消费金额 ≥ ¥5,000）"
        " 且 标签不是黑名单")
    assert rules.describe({"op": "and", "items": [{"field": "owner", "op": "in", "values": [7]}]},
                          {7: "孙明"}) == "负责人：孙明"


@pytest.mark.parametrize("bad, reason", [
    ({"field": "shoe_size", "op": "in", "values": ["42"]}, "未知字段"),
    ({"field": "frequency", "op": "in", "values": [3]}, "只能用 ≥ ≤ > < = 比较"),
    ({"field": "monetary", "op": "gte", "values": ["很多"]}, "需要一个数字"),
    ({"field": "rfm_class", "op": "in", "values": ["超级客户"]}, "没有“超级客户”这一类"),
    ({"field": "province", "op": "in", "values": []}, "至少需要一个值"),
    ({"op": "xor", "items": [GUANGDONG_REGULARS]}, "只能是“且”或“或”"),
])
def test_it_refuses_rules_that_make_no_sense(bad, reason):
    problems = rules.validate(bad)
    assert len(problems) == 1 and reason in problems[0]
    with pytest.raises(rules.RuleError):
        rules.condition(bad)


def test_the_condition_selects_exactly_the_customers_the_words_describe(db):
    regular = make_customer(name="常客")
    for days in (3, 10, 20):
        make_order(regular, days_ago=days)
    make_order(make_customer(name="杭州常客", province="浙江省", city="杭州市"), days_ago=1)
    once = make_customer(name="一次")
    make_order(once, days_ago=5)
    vip = make_customer(name="贵宾", province="浙江省", city="杭州市")
    vip.tags.add(Tag.objects.create(name="VIP"))
    pipeline.classify_all()

    def names(spec) -> set[str]:
        return set(Customer.objects.filter(rules.condition(spec)).distinct().values_list("name", flat=True))

    assert names(GUANGDONG_REGULARS) == {"常客"}
    assert names({"op": "or", "items": [GUANGDONG_REGULARS, {"field": "tags", "op": "in", "values": ["VIP"]}]}) == {
        "常客", "贵宾"}
    assert names({"op": "and", "items": [{"field": "lifecycle", "op": "in", "values": ["潜在客户"]}]}) == {"贵宾"}
    assert names({"op": "and", "items": [{"field": "province", "op": "not_in", "values": ["广东省"]},
                                         {"field": "recency_days", "op": "lte", "values": [2]}]}) == {"杭州常客"}


def test_it_describes_stored_codes_by_their_chinese_labels():
    from kehu.segments.rules import describe

    rules = {"op": "and", "items": [{"field": "kind", "op": "in", "values": ["company"]},
                                    {"field": "company_size", "op": "in", "values": ["10-49"]}]}
    assert describe(rules) == "类型：企业 且 公司规模：10–49人"


def test_it_knows_genders_and_the_current_age_bands(db):
    women_25_34 = {"op": "and", "items": [{"field": "age_band", "op": "in", "values": ["25-34", ""]},
                                          {"field": "gender", "op": "in", "values": ["female"]}]}
    assert rules.describe(women_25_34) == "年龄段：25–34、未知 且 性别：女"
    assert rules.uses_age_band(women_25_34) and not rules.uses_age_band(GUANGDONG_REGULARS)
    assert rules.validate({"field": "age_band", "op": "in", "values": ["20-29"]}) == ["年龄段没有“20-29”这一类"]
    assert rules.validate({"field": "gender", "op": "in", "values": ["女"]}) == ["性别没有“女”这一类"]
