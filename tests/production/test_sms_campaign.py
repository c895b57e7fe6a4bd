"""An SMS campaign on a live server: the consenting contacts leave as the SMS provider's bulk-send file,
are marked 已发送 afterwards (only those), and a colleague who may not run the campaign gets neither."""

import csv
import io

SETUP = """
from kehu.customers.models import Customer
from kehu.engagement.models import Consent
from kehu.marketing.models import TargetList
from kehu.segments.models import CustomerSegment
import datetime
rows = [("SMS-A", "甲", "+8613911110001", True), ("SMS-B", "乙", "+8613911110002", False),
        ("SMS-C", "丙", "", True), ("SMS-D", "丁", "+8613911110004", True)]
for code, name, mobile, granted in rows:
    c = Customer.objects.create(code=code, name=name, mobile=mobile)
    Consent.objects.create(customer=c, channel="sms", granted=granted)
    CustomerSegment.objects.create(customer=c, changed_on=datetime.date.today(), rfm_class="重要价值客户")
print(TargetList.objects.create(name="短信名单", segment_column="rfm_class", segment_class="重要价值客户",
                                channel="sms").pk)
"""
PASSWORD = "Sms-Campaign-Check-2026"


def test_an_sms_campaign_exports_the_provider_file_and_marks_exactly_those_sent(server):
    store = server.store
    list_pk = store.shell(SETUP).strip().splitlines()[-1]
    store.kehu("createuser", "sam", "--role", "sales", "--password", PASSWORD)
    store.kehu("createuser", "victor", "--role", "viewer", "--password", PASSWORD)

    admin = server.session()
    made = admin.post("/marketing/campaigns/new/", data={
        "name": "会员日短信", "target_list": list_pk, "subject": "", "message": "{姓名}您好，会员日{优惠}",
        "offer": "全场9折", "holdout_percent": "0", "attribution_days": "14"}, allow_redirects=False)
    assert made.status_code == 302, made.text[:500]
    page_url = made.headers["Location"]
    page = admin.get(page_url).text
    assert "导出短信群发文件" in page and "标记已联系" in page

    def exported(session) -> list[list[str]]:
        answer = session.get(page_url + "sms.csv")
        assert answer.status_code == 200, answer.status_code
        return list(csv.reader(io.StringIO(answer.content.decode("utf-8-sig"))))

    rows = exported(admin)
    assert rows[0] == ["手机号码", "姓名", "推荐商品", "优惠"]
    assert sorted(r for r in rows[1:]) == [["13911110001", "甲", "", "全场9折"], ["13911110004", "丁", "", "全场9折"]]

    for name in ("sam", "victor"):
        other = server.session(name, PASSWORD)
        assert other.get(page_url + "sms.csv").status_code == 403
        assert other.post(page_url + "sms/sent/").status_code == 403

    assert admin.post(page_url + "sms/sent/", allow_redirects=False).status_code == 302
    statuses = store.shell(
        "from kehu.marketing.models import CampaignContact as C\n"
        "print(sorted((c.customer.code, c.status) for c in C.objects.select_related('customer')))")
    expected = [("SMS-A", "sent"), ("SMS-B", "pending"), ("SMS-C", "pending"), ("SMS-D", "sent")]
    assert statuses.strip().splitlines()[-1] == str(expected)
    assert exported(admin) == [["手机号码", "姓名", "推荐商品", "优惠"]]  # the second export: nobody left to text
    assert "已将 0 位客户标记为已发送" in admin.post(page_url + "sms/sent/").text
