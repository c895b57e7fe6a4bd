"""One word per count and units said out loud: 订单 for orders, 消费天数 for purchase days, "同一天多次" for gaps under
a day, the time unit of the model parameters and of their log-likelihood."""

import datetime
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from kehu.sales.models import Order
from kehu.segments import pipeline, reports
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db


def test_orders_on_one_day_read_as_several_times_the_same_day(alice):
    customer = make_customer(name="同日")
    morning = timezone.now() - datetime.timedelta(days=3, hours=2)
    for minutes in (0, 30, 60):
        Order.objects.create(customer=customer, amount=Decimal("20.00"),
                             ordered_at=morning + datetime.timedelta(minutes=minutes))
    pipeline.classify_all()
    segment = CustomerSegment.objects.get(customer=customer)
    assert segment.mean_interval_days is not None and segment.mean_interval_days < 1
    page = client_for(alice).get(reverse("customers:detail", args=[customer.code])).content.decode()
    assert "同一天多次" in page and "约 0 天" not in page and "每 0 天" not in page
    assert "订单数" in page and "消费次数" not in page


def test_the_model_parameters_say_their_time_unit_and_what_the_likelihood_is_on():
    value_model = {"time_unit": "days",
                   "purchases": {"model": "MBG/NBD", "fitted": True, "params": {"r": 0.24, "alpha": 4.41, "a": 0.79,
                                                                                "b": 2.43},
                                 "log_likelihood": -9582.4},
                   "spend": {"model": "Gamma-Gamma", "fitted": True, "params": {"p": 6.25, "q": 3.74, "gamma": 15.4},
                             "log_likelihood": -4000.1}}
    rows = [[c["text"] for c in row] for row in reports._params_table(value_model).rows]
    assert rows[0][:2] == ["时间单位", "天"]
    assert rows[1] == ["币种", "CNY ¥", "预计消费额与客户价值的金额单位（系统设置 → 币种）"]
    likelihoods = {r[0]: r[2] for r in rows if "对数似然" in r[0]}
    assert likelihoods == {"MBG/NBD 对数似然": "以天为时间单位的对数似然；换用其他时间单位数值会变",
                           "Gamma-Gamma 对数似然": "与时间单位无关"}
    assert rows[2][:2] == ["MBG/NBD r", "0.24"]


def test_the_customer_page_leads_with_two_badges_and_keeps_the_rest_in_a_panel(alice, sam):
    import re

    customer = make_customer(name="主视图", owner=sam)
    for days in (3, 20, 41, 70, 95):
        Order.objects.create(customer=customer, amount=Decimal("800.00"),
                             ordered_at=timezone.now() - datetime.timedelta(days=days))
    make_customer(name="另一位")
    pipeline.classify_all()
    segment = CustomerSegment.objects.get(customer=customer)
    page = client_for(alice).get(reverse("customers:detail", args=[customer.code])).content.decode()
    primary = re.search(r"<p class=\"segment-badges\" data-primary>(.*?)</p>", page, re.S).group(1)
    badges = re.findall(r'class="badge[^"]*"[^>]*data-class="(\w+)"[^>]*>([^<]+)<', primary)
    assert badges == [("rfm_class", segment.rfm_class), ("lifecycle", segment.lifecycle)]
    panel = re.search(r"<details class=\"mt\" data-more><summary>更多分类与指标</summary>(.*?)</details>", page, re.S)
    assert panel, "the details panel is missing"
    more = panel.group(1)
    for label, value in (("RF价值矩阵", segment.rf_segment), ("价值等级", segment.value_tier),
                         ("频次等级", segment.frequency_tier), ("ABC分类", segment.abc_class)):
        assert f"<dt>{label}</dt>" in more and value in more, label
    assert "<dt>逾期未购</dt>" in more
    for old in ("价值分层", "价值分级", "频次分级"):
        assert old not in page


def test_active_means_one_thing_per_name_on_the_dashboard(alice):
    customer = make_customer(name="近期")
    Order.objects.create(customer=customer, amount=Decimal("10"), ordered_at=timezone.now())
    pipeline.classify_all()
    page = client_for(alice).get(reverse("segments:dashboard")).content.decode()
    import re

    label = re.search(r'<div class="label"[^>]*>([^<]*)</div><div class="value" data-figure="active">', page)
    assert label.group(1) == "近 90 天有消费"  # the card counts days; 活跃客户 is only the lifecycle stage
