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
    assert rules.describe(GUANGDONG_REGULARS) == "广东省 且 订单数 ≥ 3 笔"
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
    ({"field": "frequency", "op": "in", "values": [3]}, "只能用 ≥ ≤ > < = 或“介于”比较"),
    ({"field": "frequency", "op": "between", "values": [3]}, "“介于”需要两个数"),
    ({"field": "monetary", "op": "between", "values": [500, 100]}, "第一个数不能大于第二个数"),
    ({"field": "registered_at", "op": "gte", "values": ["2024-01-01"]}, "只能用“早于”“晚于”或“最近 N 天内”"),
    ({"field": "registered_at", "op": "before", "values": ["去年"]}, "需要一个日期"),
    ({"field": "last_order_at", "op": "within_days", "values": [-3]}, "不小于 0 的整数"),
    ({"field": "province", "op": "before", "values": ["2024-01-01"]}, "只能用“是”或“不是”"),
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


def test_numbers_compare_between_two_values_and_dates_before_after_or_within_days_in_words():
    spec = {"op": "and", "items": [
        {"field": "monetary", "op": "between", "values": [100, 500]},
        {"field": "frequency", "op": "between", "values": [2, 5]},
        {"field": "recency_days", "op": "between", "values": [30, 90]},
        {"field": "registered_at", "op": "before", "values": ["2024-01-31"]},
        {"field": "first_order_at", "op": "after", "values": ["2023/6/1"]},
        {"field": "last_order_at", "op": "within_days", "values": [30]},
    ]}
    assert rules.describe(spec) == (
        "消费金额介于 ¥100 和 ¥500 之间 且 订单数介于 2 笔 和 5 笔 之间 且 最近一次消费在 30–90 天前"
        " 且 注册时间早于 2024-01-31 且 首次消费日期晚于 2023-06-01 且 最近消费日期在最近 30 天内")


def test_date_and_between_conditions_select_by_whole_days_in_the_shops_time_zone(db):
    import datetime

    from django.utils import timezone

    def registered(name: str, day: datetime.date, hour: int) -> None:
        make_customer(name=name, registered_at=timezone.make_aware(datetime.datetime.combine(day, datetime.time(hour))))

    today = timezone.localdate()
    registered("一月底晚上", datetime.date(2024, 1, 31), 23)
    registered("二月初早上", datetime.date(2024, 2, 1), 0)
    registered("今天", today, 1)
    registered("29 天前", today - datetime.timedelta(days=29), 12)
    registered("30 天前", today - datetime.timedelta(days=30), 12)
    for name, amounts in {"少": [50], "中": [60, 60], "多": [300, 300]}.items():
        buyer = make_customer(name=name, registered_at=timezone.make_aware(datetime.datetime(2020, 1, 1)))
        for i, amount in enumerate(amounts):
            make_order(buyer, days_ago=i + 1, amount=str(amount))
    pipeline.classify_all()

    def names(field: str, op: str, *values) -> set[str]:
        spec = {"op": "and", "items": [{"field": field, "op": op, "values": list(values)}]}
        return set(Customer.objects.filter(rules.condition(spec)).values_list("name", flat=True))

    assert names("registered_at", "before", "2024-02-01") == {"一月底晚上", "少", "中", "多"}
    assert names("registered_at", "after", "2024-01-31") >= {"二月初早上", "今天"}
    assert "一月底晚上" not in names("registered_at", "after", "2024-01-31")
    assert names("registered_at", "within_days", 30) == {"今天", "29 天前"}
    assert names("monetary", "between", 100, 120) == {"中"}
    assert names("monetary", "between", 50, 600) == {"少", "中", "多"}
def test_it_knows_genders_and_the_current_age_bands(db):
    women_25_34 = {"op": "and", "items": [{"field": "age_band", "op": "in", "values": ["25-34", ""]},
                                          {"field": "gender", "op": "in", "values": ["female"]}]}
    assert rules.describe(women_25_34) == "年龄段：25–34、未知 且 性别：女"
    assert rules.uses_age_band(women_25_34) and not rules.uses_age_band(GUANGDONG_REGULARS)
    assert rules.validate({"field": "age_band", "op": "in", "values": ["20-29"]}) == ["年龄段没有“20-29”这一类"]
    assert rules.validate({"field": "gender", "op": "in", "values": ["女"]}) == ["性别没有“女”这一类"]
