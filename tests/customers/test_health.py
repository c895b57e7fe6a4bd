"""Data health: injected problems are found, linked and fixable; the score is kept per day."""

import datetime

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from kehu.customers.health import check, record_score
from kehu.customers.models import Customer, HealthScore
from kehu.engagement.models import Communication
from kehu.sales.models import OrderLine
from tests.conftest import make_customer, make_order

pytestmark = pytest.mark.django_db


def _raw_update(customer: Customer, **values) -> None:
    """Write past the form, as older data or an old import would have."""
    Customer.objects.filter(pk=customer.pk).update(**values)


@pytest.fixture
def problems(sam):
    good = make_customer(name="好客户", mobile="+8613800000001", email="good@example.com", owner=sam)
    make_order(good)
    bad_mobile = make_customer(name="坏手机", owner=sam)
    _raw_update(bad_mobile, mobile="12345")
    bad_email = make_customer(name="坏邮箱", owner=sam)
    _raw_update(bad_email, email="not-an-email")
    future = make_customer(name="未来生日", owner=sam)
    _raw_update(future, birthday=timezone.localdate() + datetime.timedelta(days=30))
    old = make_customer(name="沉睡客户", owner=sam)
    _raw_update(old, updated_at=timezone.now() - datetime.timedelta(days=800))
    old_but_called = make_customer(name="最近联系过", owner=sam)
    Communication.objects.create(customer=old_but_called, content="回访")
    _raw_update(old_but_called, updated_at=timezone.now() - datetime.timedelta(days=800))
    orphan = make_customer(name="无主客户")
    twin_a = make_customer(name="双胞", mobile="+8613800000002", owner=sam)
    twin_b = make_customer(name="双胞乙", owner=sam)
    _raw_update(twin_b, mobile_hash=Customer.objects.get(pk=twin_a.pk).mobile_hash)
    bare = make_order(good, amount="50.00")
    lined = make_order(good, amount="20.00")
    OrderLine.objects.create(order=lined, product_name="茶叶", unit_price="20.00")
    return locals()


def test_it_finds_each_injected_problem(problems):
    report = check()
    invalid = {c.name: reasons for c, reasons in report.finding("invalid").examples}
    assert invalid == {"坏手机": ["手机号码无效"], "坏邮箱": ["电子邮箱无效"], "未来生日": ["生日在未来"]}
    assert [c.name for c in report.finding("stale").examples] == ["沉睡客户"]
    assert [c.name for c in report.finding("unowned").examples] == ["无主客户"]
    assert report.finding("unowned").list_url == "/customers/?owner=none"
    groups = report.finding("duplicates").examples
    assert [sorted(c.name for c in g.customers) for g in groups] == [["双胞", "双胞乙"]]
    assert report.finding("orders_without_lines").count == 2  # the first make_order(good) has none either
    assert 0 < report.score < 100


def test_completeness_is_one_aggregate_per_field_share(problems):
    report = check()
    filled = {name: percent for name, _, percent in report.completeness}
    total = Customer.objects.count()
    assert filled["owner"] == round(100 * (total - 1) / total, 1)
    assert filled["mobile"] == round(100 * 3 / total, 1)  # good, bad_mobile, twin_a (twin_b only shares a hash)


def test_counting_does_not_loop_over_customers(problems):
    for i in range(30):
        make_customer(name=f"客户{i}")
    with CaptureQueriesContext(connection) as queries:
        check()
    assert len(queries) < 25


def test_a_clean_archive_scores_100(sam):
    c = make_customer(name="完美", mobile="+8613800000009", email="p@example.com", wechat="wx_p", owner=sam,
                      birthday=datetime.date(1990, 1, 1), gender="女", address="某路1号", source="门店", grade="A")
    assert check().finding("invalid").count == 0
    assert check().score == 100
    assert c.pk


def test_the_score_is_recorded_once_a_day(problems):
    report = check()
    record_score(report, day=datetime.date(2026, 1, 1))
    record_score(report, day=datetime.date(2026, 1, 1))
    record_score(report, day=datetime.date(2026, 1, 2))
    assert HealthScore.objects.count() == 2


def test_the_command_prints_findings_and_records_the_score(problems, capsys):
    call_command("health")
    out = capsys.readouterr().out
    assert "数据质量分" in out and "无效的值" in out
    assert HealthScore.objects.filter(day=timezone.localdate()).exists()


def test_the_page_links_records_and_offers_fixes(client, mary, problems):
    client.force_login(mary)
    body = client.get("/customers/health/").content.decode()
    bad = problems["bad_mobile"]
    assert f"/customers/{bad.code}/edit/" in body
    assert "/customers/?owner=none" in body
    assert "/merge/" in body
    assert "批量分配负责人" in body
    assert HealthScore.objects.count() == 1


def test_bulk_assign_gives_unowned_customers_an_owner_and_bumps_their_version(client, mary, sam, problems):
    client.force_login(mary)
    orphan = problems["orphan"]
    response = client.post("/customers/health/assign-owner/", {"owner": sam.pk})
    assert response.status_code == 302
    orphan.refresh_from_db()
    assert orphan.owner == sam and orphan.version == 2 and orphan.updated_by == mary


@pytest.mark.parametrize("persona", ["sam", "sue", "victor"])
def test_other_roles_may_not_see_the_page(client, persona, request):
    client.force_login(request.getfixturevalue(persona))
    assert client.get("/customers/health/").status_code == 403
    assert client.post("/customers/health/assign-owner/", {"owner": 1}).status_code == 403


def test_the_nav_links_the_page_for_managers_only(client, mary, victor):
    client.force_login(mary)
    assert "/customers/health/" in client.get("/").content.decode()
    client.force_login(victor)
    assert "/customers/health/" not in client.get("/").content.decode()

