"""Merging two records of one customer: everything moves onto the kept one, and it is recorded."""

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from kehu.customers.merge import MergeConflict, MergeError, merge_customers
from kehu.customers.models import Customer, MergeRecord, Tag
from kehu.engagement.models import Communication, Consent, Feedback, FollowUp, MarketingChannel, Preference
from kehu.sales.models import Order
from tests.conftest import make_customer, make_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def twin(db, zhang):
    """zhang entered a second time, from the online shop, with an address and a birthday."""
    import datetime

    customer = make_customer(name="张伟", mobile="+8613812345678", address="南山区科技园路1号",
                             birthday=datetime.date(1990, 5, 1), source="线上商城", notes="喜欢深色")
    customer.tags.add(Tag.objects.create(name="会员"))
    make_order(customer, "300.00", days_ago=30)
    make_order(customer, "50.00", days_ago=10)
    Communication.objects.create(customer=customer, method="phone", content="询问到货时间")
    Feedback.objects.create(customer=customer, comment="很好")
    return customer


def test_it_moves_orders_communications_and_feedback(zhang, twin, mary):
    make_order(zhang, "100.00")
    merge_customers(zhang, twin, user=mary)
    assert not Customer.objects.filter(pk=twin.pk).exists()
    assert Order.objects.filter(customer=zhang).count() == 3
    assert Communication.objects.get().customer_id == zhang.pk
    assert Feedback.objects.get().customer_id == zhang.pk


def test_it_records_the_merge(zhang, twin, mary):
    twin_code = twin.code
    record = merge_customers(zhang, twin, user=mary)
    record = MergeRecord.objects.get(pk=record.pk)
    assert record.kept_id == zhang.pk and record.merged_code == twin_code and record.merged_name == "张伟"
    assert record.merged_by == mary
    assert record.moved["orders"] == 2 and record.moved["communications"] == 1 and record.moved["feedback"] == 1
    snapshot = json.loads(record.snapshot)  # stored encrypted, read back in the clear
    assert snapshot["code"] == twin_code and snapshot["mobile"] == "+8613812345678"
    assert snapshot["address"] == "南山区科技园路1号" and snapshot["tags"] == ["会员"]
    assert len(snapshot["moved_ids"]["orders"]) == 2


def test_it_fills_empty_fields_and_keeps_what_the_kept_has(zhang, twin, mary):
    version = zhang.version
    merge_customers(zhang, twin, user=mary)
    zhang.refresh_from_db()
    assert zhang.address == "南山区科技园路1号" and zhang.birthday.isoformat() == "1990-05-01"
    assert zhang.source == "线上商城"
    assert zhang.email == "zhangwei@example.com" and zhang.owner.username == "sam"
    assert "喜欢深色" in zhang.notes and twin.code in zhang.notes
    assert [t.name for t in zhang.tags.all()] == ["会员"]
    assert zhang.version == version + 1


def test_it_moves_consents_and_preferences_only_where_the_kept_has_none(zhang, twin, mary):
    Consent.objects.create(customer=zhang, channel=MarketingChannel.SMS, granted=False)
    Consent.objects.create(customer=twin, channel=MarketingChannel.SMS, granted=True)
    Consent.objects.create(customer=twin, channel=MarketingChannel.WECHAT, granted=True)
    Preference.objects.create(customer=twin, preferred_channel=MarketingChannel.WECHAT)
    merge_customers(zhang, twin, user=mary)
    consents = dict(Consent.objects.filter(customer=zhang).values_list("channel", "granted"))
    assert consents == {MarketingChannel.SMS: False, MarketingChannel.WECHAT: True}  # zhang's own "no" stands
    assert Preference.objects.get(customer=zhang).preferred_channel == MarketingChannel.WECHAT


def test_it_refreshes_the_kept_customers_metrics(zhang, twin, mary):
    from kehu.segments.models import CustomerMetrics

    make_order(zhang, "100.00")
    merge_customers(zhang, twin, user=mary)
    metrics = CustomerMetrics.objects.get(customer=zhang)
    assert metrics.frequency == 3 and str(metrics.monetary) == "450.00"


def test_it_refuses_to_merge_a_customer_with_itself(zhang):
    with pytest.raises(MergeError):
        merge_customers(zhang, zhang)


def test_it_refuses_when_either_customer_changed_meanwhile(zhang, twin, mary):
    seen = (zhang.version, twin.version)
    Customer.objects.filter(pk=twin.pk).update(version=twin.version + 1)  # someone saved it
    with pytest.raises(MergeConflict):
        merge_customers(zhang, twin, user=mary, expected_versions=seen)
    assert Customer.objects.filter(pk=twin.pk).exists()
    assert Order.objects.filter(customer=twin).count() == 2
    assert not MergeRecord.objects.exists()


def test_the_command_merges_by_code(zhang, twin, alice):
    out = StringIO()
    call_command("merge", zhang.code, twin.code, "--yes", stdout=out)
    assert not Customer.objects.filter(code=twin.code).exists()
    assert MergeRecord.objects.get().merged_by == alice
    assert "订单 2" in out.getvalue()


def test_the_command_refuses_an_unknown_code(zhang):
    with pytest.raises(CommandError, match="KH999999"):
        call_command("merge", zhang.code, "KH999999", "--yes")


# ---------- the merge page ----------

def login(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def test_the_page_is_forbidden_to_sales(client, zhang, twin, sam):
    login(client, sam)
    assert client.get(f"/customers/{zhang.code}/merge/?other={twin.code}").status_code == 403
    assert client.post(f"/customers/{zhang.code}/merge/", {"other": twin.code}).status_code == 403
    assert Customer.objects.filter(pk=twin.pk).exists()


def test_the_page_is_forbidden_to_viewers(client, zhang, victor):
    login(client, victor)
    assert client.get(f"/customers/{zhang.code}/merge/").status_code == 403


def test_the_page_asks_for_a_login(client, zhang):
    r = client.get(f"/customers/{zhang.code}/merge/")
    assert r.status_code == 302 and "login" in r["Location"]


def test_the_page_suggests_likely_duplicates(client, zhang, twin, mary):
    r = login(client, mary).get(f"/customers/{zhang.code}/merge/")
    assert r.status_code == 200
    assert twin.code in r.content.decode()


def test_the_page_shows_both_customers_side_by_side(client, zhang, twin, mary):
    r = login(client, mary).get(f"/customers/{zhang.code}/merge/?other={twin.code}")
    html = r.content.decode()
    assert r.status_code == 200
    assert zhang.code in html and twin.code in html
    assert "南山区科技园路1号" in html  # the manager sees contact details
    assert "将补全" in html


def test_posting_merges_and_goes_to_the_kept_customer(client, zhang, twin, mary):
    r = login(client, mary).post(f"/customers/{zhang.code}/merge/", {
        "other": twin.code, "kept_version": zhang.version, "other_version": twin.version})
    assert r.status_code == 302 and r["Location"] == f"/customers/{zhang.code}/"
    assert not Customer.objects.filter(pk=twin.pk).exists()
    assert Order.objects.filter(customer=zhang).count() == 2
    assert MergeRecord.objects.get().merged_by == mary


def test_posting_a_stale_page_merges_nothing(client, zhang, twin, mary):
    r = login(client, mary).post(f"/customers/{zhang.code}/merge/", {
        "other": twin.code, "kept_version": zhang.version, "other_version": twin.version + 1})
    assert r.status_code == 302 and "?other=" in r["Location"]
    assert Customer.objects.filter(pk=twin.pk).exists()


def test_an_unknown_code_is_a_clear_error(client, zhang, mary):
    r = login(client, mary).get(f"/customers/{zhang.code}/merge/?other=KH999999")
    assert r.status_code == 400
    assert "找不到客户编号 KH999999" in r.content.decode()


def test_follow_ups_move_too(zhang, twin, mary):
    import datetime

    FollowUp.objects.create(customer=twin, title="回访", due=datetime.date.today())
    merge_customers(zhang, twin, user=mary)
    assert FollowUp.objects.get().customer_id == zhang.pk
