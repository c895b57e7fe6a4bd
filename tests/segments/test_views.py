"""The segmentation pages: dashboard, analysis pages, movement, settings, exports, the customer page section
and the class filters of the customer list."""

import csv
import datetime as dt
import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.segments import pipeline
from kehu.segments.models import CustomerSegment, SegmentRun, SegmentSettings
from tests.conftest import make_customer, make_order, page_statements


@pytest.fixture
def shop(db, sam):
    """Two customers of sam's and two nobody owns, with orders worked out so the classes are plain:
    zhang and wu are recent, frequent, big spenders (重要价值客户); li and zhao bought once, long ago, little."""
    zhang = make_customer(name="张伟", owner=sam)
    wu = make_customer(name="吴芳", province="浙江省", city="杭州市")
    li = make_customer(name="李娜", owner=sam)
    zhao = make_customer(name="赵强", province="浙江省", city="宁波市")
    for customer in (zhang, wu):
        for days in (5, 20, 40):
            make_order(customer, "1000.00", days_ago=days)
    make_order(li, "50.00", days_ago=300)
    make_order(zhao, "30.00", days_ago=400)
    make_customer(name="钱多多")   # never bought
    return {"zhang": zhang, "wu": wu, "li": li, "zhao": zhao}


def content(response) -> str:
    return response.content.decode()


# --- dashboard ----------------------------------------------------------------------------------------

def test_it_shows_the_key_figures_and_the_classes_on_the_dashboard(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    response = client.get(reverse("segments:dashboard"))
    assert response.status_code == 200
    figures = response.context["data"]["figures"]
    assert (figures["customers"], figures["buyers"], figures["orders"], figures["revenue"]) == (5, 4, 8, 6080.0)
    assert figures["repeat_rate"] == 0.5 and figures["avg_order_value"] == 760.0
    html = content(response)
    assert '<div class="value" data-figure="customers">5</div>' in html
    assert "¥6,080.00" in html and "50.0%" in html
    assert "重要价值客户" in html and "一般挽留客户" in html
    rfm = {row[0]["text"]: row[1]["value"] for row in response.context["data"]["tables"]["rfm"]["rows"]}
    assert rfm["重要价值客户"] == 2 and rfm["一般挽留客户"] == 2 and rfm["（无消费）"] == 1
    assert f"{today():%Y-%m-%d}" in html          # 上次分层计算：date
    assert 'id="chart-rfm" type="application/json"' in html
    assert "重新计算分层" in html


def test_sam_sees_figures_over_his_own_customers_only(client, sam, shop):
    pipeline.classify_all()
    client.force_login(sam)
    response = client.get(reverse("segments:dashboard"))
    figures = response.context["data"]["figures"]
    assert (figures["customers"], figures["buyers"], figures["orders"], figures["revenue"]) == (2, 2, 4, 3050.0)
    rfm = {row[0]["text"]: row[1]["value"] for row in response.context["data"]["tables"]["rfm"]["rows"]}
    assert rfm["重要价值客户"] == 1 and rfm["一般挽留客户"] == 1
    html = content(response)
    assert "仅统计您负责的客户" in html
    assert "重新计算分层" not in html


def test_the_dashboard_makes_a_bounded_number_of_queries_and_then_comes_from_the_cache(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    with CaptureQueriesContext(connection) as first:
        assert client.get(reverse("segments:dashboard")).status_code == 200
    assert len(page_statements(first)) <= 14
    with CaptureQueriesContext(connection) as again:
        assert client.get(reverse("segments:dashboard")).status_code == 200
    assert len(again.captured_queries) <= 4       # session, user, latest run, the cached page


def test_a_new_run_is_not_hidden_by_the_cache(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    assert client.get(reverse("segments:dashboard")).context["data"]["figures"]["orders"] == 8
    make_order(shop["li"], "10.00", days_ago=1)
    assert client.get(reverse("segments:dashboard")).context["data"]["figures"]["orders"] == 8   # same run
    pipeline.classify_all()
    assert client.get(reverse("segments:dashboard")).context["data"]["figures"]["orders"] == 9


def test_the_dashboard_says_when_nothing_was_computed_yet(client, victor, shop):
    client.force_login(victor)
    html = content(client.get(reverse("segments:dashboard")))
    assert "尚未计算分层" in html and "请联系管理员或经理计算" in html


def test_the_dashboard_needs_a_login(client, db):
    response = client.get(reverse("segments:dashboard"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


# --- recompute and settings ---------------------------------------------------------------------------

def test_a_manager_recomputes_the_classes(client, mary, shop):
    client.force_login(mary)
    response = client.post(reverse("segments:recompute"), {"next": reverse("segments:dashboard")})
    assert response.status_code == 302 and response["Location"] == reverse("segments:dashboard")
    assert SegmentRun.objects.filter(as_of=today()).exists()
    assert CustomerSegment.objects.get(customer=shop["zhang"]).rfm_class == "重要价值客户"


def test_a_viewer_may_not_recompute(client, victor, shop):
    client.force_login(victor)
    assert client.post(reverse("segments:recompute")).status_code == 403
    assert not SegmentRun.objects.exists()


def test_a_manager_changes_the_thresholds(client, mary, db):
    client.force_login(mary)
    page = client.get(reverse("segments:settings"))
    form = page.context["form"]
    data = {name: form.initial[name] if form.initial[name] is not None else "" for name in form.fields}
    data.update(sleeping_days=60, r_score_days="15, 45, 90, 200")
    response = client.post(reverse("segments:settings"), data)
    assert response.status_code == 302
    stored = SegmentSettings.load()
    assert stored.sleeping_days == 60 and stored.r_score_days == (15, 45, 90, 200)
    assert SegmentSettings.objects.get().updated_by == mary


def test_bad_thresholds_are_refused_with_a_reason(client, mary, db):
    client.force_login(mary)
    form = client.get(reverse("segments:settings")).context["form"]
    data = {name: form.initial[name] if form.initial[name] is not None else "" for name in form.fields}
    data.update(sleeping_days=200, lost_days=180, m_score_yuan="500, 200, 1000, 3000")
    response = client.post(reverse("segments:settings"), data)
    assert response.status_code == 200
    html = content(response)
    assert "M 评分金额需要 4 个递增的数" in html and "沉睡天数 &lt; 流失天数" in html
    assert SegmentSettings.load().sleeping_days == 90


def test_saving_and_recomputing_uses_the_new_thresholds(client, alice, shop):
    client.force_login(alice)
    form = client.get(reverse("segments:settings")).context["form"]
    data = {name: form.initial[name] if form.initial[name] is not None else "" for name in form.fields}
    data.update(sleeping_days=3, lost_days=10, recompute="1")
    client.post(reverse("segments:settings"), data)
    assert CustomerSegment.objects.get(customer=shop["zhang"]).lifecycle == "沉睡客户"   # last order 5 days ago


def test_the_settings_page_states_that_equal_values_get_equal_scores(client, mary, db):
    client.force_login(mary)
    html = content(client.get(reverse("segments:settings")))
    assert "数值相同的客户得分相同（并列时都取其中最低的名次，不按编号拆开）" in html
    assert "消费金额相同的客户归入同一类" in html


def test_the_model_check_page_says_why_no_model_fits_a_small_shop(client, alice, sam, shop):
    pipeline.classify_all()
    client.force_login(alice)
    html = content(client.get(reverse("segments:analysis", args=["models"])))
    # buyers over 400 days: the last 100 days are the holdout; li and zhao had bought before it, and no
    # model fits two customers
    assert html.count("客户少于 50 位（现有 2 位），无法可靠拟合模型") == 3
    assert "<strong>MBG/NBD</strong>" in html
    client.force_login(sam)  # a sales rep's pages cover their own customers; this one is shop-wide
    assert "只对可查看全部客户的用户显示" in content(client.get(reverse("segments:analysis", args=["models"])))


def test_sales_reps_may_not_open_the_settings(client, sam):
    client.force_login(sam)
    assert client.get(reverse("segments:settings")).status_code == 403


# --- analysis pages -----------------------------------------------------------------------------------

@pytest.mark.parametrize("page, expected", [
    ("retention", "同期群留存"), ("trends", "潜力大单客户"), ("preferences", "支付方式"), ("regions", "浙江省"),
])
def test_the_analysis_pages_render(client, alice, shop, page, expected):
    pipeline.classify_all()
    client.force_login(alice)
    response = client.get(reverse("segments:analysis", args=[page]))
    assert response.status_code == 200
    assert expected in content(response)


def test_the_regions_page_sums_customers_and_spend_by_province(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    rows = client.get(reverse("segments:analysis", args=["regions"])).context["data"]["tables"]["provinces"]["rows"]
    by_province = {r[0]["text"]: (r[1]["value"], r[2]["value"], r[4]["value"]) for r in rows}
    assert by_province == {"浙江省": (2, 2, 3030.0), "广东省": (3, 2, 3050.0)}


def test_the_payment_methods_page_ranks_methods_per_class(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    data = client.get(reverse("segments:analysis", args=["preferences"])).context["data"]
    assert data["payments"]["重要价值客户"] == [
        {"key": "wechat_pay", "name": "微信支付", "revenue": 6000.0, "share": 1.0, "customers": 2}]


def test_an_unknown_analysis_page_is_not_found(client, alice):
    client.force_login(alice)
    assert client.get(reverse("segments:analysis", args=["nothing"])).status_code == 404


# --- exports ------------------------------------------------------------------------------------------

def test_it_exports_the_class_table_as_csv_with_the_numbers_on_screen(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    response = client.get(reverse("segments:export", args=["dashboard", "rfm"]) + "?format=csv")
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:3] == ["分层", "客户数", "客户占比"]
    assert ["重要价值客户", "2", "0.4", "6000.0", "0.9868", "3000.0"] in rows


def test_it_exports_a_table_as_xlsx(client, alice, shop):
    from openpyxl import load_workbook

    pipeline.classify_all()
    client.force_login(alice)
    response = client.get(reverse("segments:export", args=["dashboard", "lifecycle"]) + "?format=xlsx")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    values = list(sheet.values)
    assert values[0] == ("阶段", "客户数", "客户占比", "消费金额（元）")  # the unit of the shop's currency
    assert ("潜在客户", 1, 0.2, 0) in values


# --- the customer page --------------------------------------------------------------------------------

def test_the_customer_page_says_why_the_customer_is_in_its_class(client, sue, shop):
    pipeline.classify_all()
    client.force_login(sue)
    segment = CustomerSegment.objects.get(customer=shop["zhang"])
    html = content(client.get(shop["zhang"].get_absolute_url()))
    assert segment.explanation.startswith("最近一次消费 5 天前") and segment.explanation in html
    assert "重要价值客户" in html and f"R {segment.r_score}" in html and f"M {segment.m_score}" in html
    assert "/customers/?rfm_class=%E9%87%8D%E8%A6%81%E4%BB%B7%E5%80%BC%E5%AE%A2%E6%88%B7" in html


def test_the_customer_page_says_when_no_classes_were_computed(client, sue, shop):
    client.force_login(sue)
    assert "尚未计算分层" in content(client.get(shop["zhang"].get_absolute_url()))


# --- customer list filters ----------------------------------------------------------------------------

def test_the_customer_list_filters_by_rfm_class(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    response = client.get(reverse("customers:list"), {"rfm_class": "重要价值客户"})
    listed = {customer.pk for customer, _mobile in response.context["rows"]}
    assert listed == set(CustomerSegment.objects.filter(rfm_class="重要价值客户").values_list("customer_id", flat=True))
    assert listed == {shop["zhang"].pk, shop["wu"].pk}
    assert "重要价值客户" in content(response)


def test_the_class_filters_respect_what_a_sales_rep_may_see(client, sam, shop):
    pipeline.classify_all()
    client.force_login(sam)
    response = client.get(reverse("customers:list"), {"lifecycle": "流失客户"})
    assert [c.name for c, _m in response.context["rows"]] == ["李娜"]


# --- movement -----------------------------------------------------------------------------------------

@pytest.fixture
def two_snapshots(db, sam):
    """Lifecycle 90 days ago and today: 旧客 sleeping → lost, 新客 new → sleeping, 常客 stays loyal."""
    old = make_customer(name="旧客", owner=sam)
    new = make_customer(name="新客")
    regular = make_customer(name="常客")
    make_order(old, days_ago=190)
    make_order(new, days_ago=100)
    for days in range(0, 200, 15):
        make_order(regular, days_ago=days)
    before, after = today() - dt.timedelta(days=90), today()
    pipeline.classify_all(before)
    pipeline.classify_all(after)
    return {"old": old, "new": new, "regular": regular, "before": before, "after": after}


def test_the_movement_page_shows_the_matrix_and_who_moved(client, mary, two_snapshots):
    client.force_login(mary)
    response = client.get(reverse("segments:movement"), {"column": "lifecycle"})
    data = response.context["data"]
    assert (data["from"], data["to"]) == (two_snapshots["before"], two_snapshots["after"])
    columns = [c["label"] for c in data["tables"]["matrix"]["columns"]]
    matrix = {row[0]["text"]: {columns[i]: c["value"] for i, c in enumerate(row) if i and c["value"]}
              for row in data["tables"]["matrix"]["rows"]}
    assert matrix == {"忠诚客户": {"忠诚客户": 1, "合计": 1}, "沉睡客户": {"流失客户": 1, "合计": 1},
                      "新客户": {"沉睡客户": 1, "合计": 1}}
    moves = {(m["from"], m["to"]): m["customers"] for m in data["moves"]}
    assert moves == {("沉睡客户", "流失客户"): 1, ("新客户", "沉睡客户"): 1}
    html = content(response)
    assert "有 1 位客户从沉睡客户变为流失客户" in html
    assert "有 1 位客户从新客户变为沉睡客户" in html


def test_who_moved_lists_the_customers(client, mary, two_snapshots):
    client.force_login(mary)
    snap = two_snapshots
    response = client.get(reverse("segments:movers"), {
        "from": f"{snap['before']}", "to": f"{snap['after']}", "column": "lifecycle", "a": "新客户", "b": "沉睡客户"})
    assert response.status_code == 200
    assert [c.name for c, _seg in response.context["rows"]] == ["新客"]
    assert snap["new"].get_absolute_url() in content(response)


def test_sam_sees_only_his_own_customers_move(client, sam, two_snapshots):
    client.force_login(sam)
    data = client.get(reverse("segments:movement"), {"column": "lifecycle"}).context["data"]
    assert {(m["from"], m["to"]): m["customers"] for m in data["moves"]} == {("沉睡客户", "流失客户"): 1}
    assert data["total"] == 1


def test_the_movement_page_asks_for_two_snapshots(client, mary, shop):
    pipeline.classify_all()
    client.force_login(mary)
    assert "还没有两次分层快照" in content(client.get(reverse("segments:movement")))


def test_the_rfm_class_of_a_customer_nobody_classified_is_empty(db):
    assert not Customer.objects.filter(segment__rfm_class="重要价值客户").exists()


def test_the_dashboard_speaks_english_when_asked(client, alice, shop):
    pipeline.classify_all()
    client.force_login(alice)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = content(client.get(reverse("segments:dashboard")))
    assert "Segment dashboard" in html and "Repeat rate" in html and "Share of revenue" in html


def test_recomputing_builds_the_pages_so_nobody_waits(client, mary, shop, django_assert_max_num_queries):
    client.force_login(mary)
    client.post(reverse("segments:recompute"))
    with django_assert_max_num_queries(4):
        assert client.get(reverse("segments:dashboard")).status_code == 200
    with django_assert_max_num_queries(4):
        assert client.get(reverse("segments:analysis", args=["preferences"])).status_code == 200


def test_sam_sees_the_favourites_of_his_own_customers(client, sam, shop):
    pipeline.classify_all()
    client.force_login(sam)
    data = client.get(reverse("segments:analysis", args=["preferences"])).context["data"]
    assert data["payments"]["重要价值客户"] == [
        {"key": "wechat_pay", "name": "微信支付", "revenue": 3000.0, "share": 1.0, "customers": 1}]


def test_every_threshold_can_be_edited_on_the_settings_page():
    import dataclasses

    from kehu.segments.engine.classify import Thresholds
    from kehu.segments.forms import GROUPS

    on_page = {name for _, fields in GROUPS for name, _, _ in fields}
    assert {f.name for f in dataclasses.fields(Thresholds)} - {"extra"} <= on_page


def test_the_model_check_page_says_in_english_why_a_short_history_is_not_checked(client, alice, db):
    wang = make_customer(name="王芳")
    make_order(wang, "100.00", days_ago=30)
    make_order(wang, "80.00", days_ago=3)
    pipeline.classify_all()
    client.force_login(alice)
    client.post("/i18n/setlang/", {"language": "en", "next": "/"})
    html = content(client.get(reverse("segments:analysis", args=["models"])))
    assert "The purchase history spans less than 16 weeks (30 days); there is no room for a holdout period" in html
    assert "Churn and value forecasts use the default model MBG/NBD." in html
