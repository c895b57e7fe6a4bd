"""Target lists: audience, consent, 'contacted lately' left out, per-channel exports with masking rules."""

import datetime
import io

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from kehu.accounts.models import AuditEntry
from kehu.engagement.models import Communication, Consent, Preference
from kehu.marketing import targets
from kehu.marketing.models import TargetList
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer


def classed(rfm_class, **fields):
    c = make_customer(**fields)
    CustomerSegment.objects.create(customer=c, changed_on=datetime.date.today(), rfm_class=rfm_class)
    return c


def consent(customer, channel, granted=True):
    Consent.objects.create(customer=customer, channel=channel, granted=granted)


@pytest.fixture
def audience(db, sam):
    c = {
        "ok": classed("重要价值客户", name="可发送", mobile="+8613800000001", owner=sam),
        "refused": classed("重要价值客户", name="拒绝短信", mobile="+8613800000002"),
        "no_mobile": classed("重要价值客户", name="没有手机"),
        "recent": classed("重要价值客户", name="刚联系过", mobile="+8613800000004"),
        "other": classed("一般挽留客户", name="别的分层", mobile="+8613800000005"),
    }
    for key in ("ok", "no_mobile", "recent", "other"):
        consent(c[key], "sms")
    consent(c["refused"], "sms", granted=False)
    Preference.objects.create(customer=c["ok"], preferred_channel="wechat")
    Communication.objects.create(customer=c["recent"], method="phone", content="回访",
                                 occurred_at=timezone.now() - datetime.timedelta(days=3))
    c["list"] = TargetList.objects.create(name="重要价值短信", segment_column="rfm_class",
                                          segment_class="重要价值客户", channel="sms", exclude_days=7)
    return c


def names(qs):
    return {c.name for c in qs}


def test_members_are_the_class_without_the_recently_contacted(audience, alice):
    assert names(targets.members(audience["list"], alice)) == {"拒绝短信", "可发送", "没有手机"}
    assert names(targets.reachable(audience["list"], alice)) == {"可发送"}


def test_without_exclusion_the_recently_contacted_stay(audience, alice):
    audience["list"].exclude_days = None
    assert names(targets.reachable(audience["list"], alice)) == {"刚联系过", "可发送"}


def test_a_sales_rep_sees_only_own_customers_in_a_list(audience, sam):
    assert names(targets.members(audience["list"], sam)) == {"可发送"}


def test_a_saved_customer_filter_is_an_audience(db, alice):
    zj = make_customer(name="浙江客户", province="浙江省", email="zj@example.com")
    make_customer(name="广东客户", province="广东省", email="gd@example.com")
    consent(zj, "email")
    tl = TargetList.objects.create(name="浙江邮件", filter_query="province=浙江省", channel="email")
    assert names(targets.reachable(tl, alice)) == {"浙江客户"}


def test_the_sms_export_has_consenting_mobiles_only(client, audience, mary):
    client.force_login(mary)
    response = client.get(reverse("marketing:target_list_export", args=[audience["list"].pk, "xlsx"]))
    assert response.status_code == 200
    rows = list(load_workbook(io.BytesIO(response.getvalue())).active.values)
    assert rows == [("客户编号", "姓名", "手机"), (audience["ok"].code, "可发送", "138 0000 0001")]
    assert AuditEntry.objects.filter(action="export", target_label__contains="重要价值短信").exists()


def test_the_call_sheet_names_the_owner(client, audience, mary):
    tl = audience["list"]
    tl.channel = "phone"
    tl.save()
    consent(audience["ok"], "phone")
    client.force_login(mary)
    text = client.get(reverse("marketing:target_list_export", args=[tl.pk, "csv"])).getvalue().decode("utf-8-sig")
    assert text.splitlines() == ["客户编号,姓名,手机,负责人,RFM分层,生命周期,通话结果",
                                 f"{audience['ok'].code},可发送,138 0000 0001,孙明,重要价值客户,,"]


def test_a_role_that_sees_masked_contacts_may_not_export(client, audience, sam, victor):
    for user in (sam, victor):
        client.force_login(user)
        response = client.get(reverse("marketing:target_list_export", args=[audience["list"].pk, "xlsx"]))
        assert response.status_code == 403
        page = client.get(audience["list"].get_absolute_url()).content.decode()
        assert "data-export" not in page and "不能导出名单" in page
        assert "0001" in page and "138 0000 0001" not in page  # masked on screen


def test_the_detail_page_counts_members_and_reachable(client, audience, mary):
    client.force_login(mary)
    page = client.get(audience["list"].get_absolute_url()).content.decode()
    assert 'data-total>3<' in page and 'data-reachable>1<' in page
    assert "微信/公众号" in page  # the preferred channel of 可发送


def test_it_creates_a_list_from_a_class(client, audience, mary):
    client.force_login(mary)
    response = client.post(reverse("marketing:target_list_new"), {
        "name": "流失挽回", "source": "class", "audience": "rfm_class:一般挽留客户", "filter_query": "",
        "channel": "sms"})
    tl = TargetList.objects.get(name="流失挽回")
    assert response.status_code == 302 and (tl.segment_column, tl.segment_class) == ("rfm_class", "一般挽留客户")
    assert names(targets.reachable(tl, mary)) == {"别的分层"}
    assert "流失挽回" in client.get(reverse("marketing:target_lists")).content.decode()


def test_it_refuses_a_filter_it_does_not_understand(client, mary):
    client.force_login(mary)
    response = client.post(reverse("marketing:target_list_new"), {
        "name": "乱填", "source": "list", "audience": "", "filter_query": "foo=bar", "channel": "sms"})
    assert response.status_code == 200 and not TargetList.objects.exists()
    assert "没有识别出任何客户筛选条件" in response.content.decode()


def test_a_viewer_may_not_create_lists(client, victor):
    client.force_login(victor)
    assert client.get(reverse("marketing:target_list_new")).status_code == 403
