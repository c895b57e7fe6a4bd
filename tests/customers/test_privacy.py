"""PIPL requests: export everything about one customer; erase keeps revenue and leaves no trace of the person."""

import io
import json

import openpyxl
from django.core.management import call_command
from django.db import connection
from django.db.models import Sum
from django.urls import reverse

from kehu.accounts.models import AuditAction, AuditEntry
from kehu.customers import privacy
from kehu.customers.merge import merge_customers
from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Consent, Feedback, FollowUp
from kehu.sales.models import Order, OrderLine
from tests.conftest import make_customer, make_order


def shop_revenue():
    return Order.objects.aggregate(total=Sum("amount"))["total"]


def raw_database_text() -> str:
    """Every row of every table, as stored (no decryption)."""
    parts = []
    with connection.cursor() as cur:
        for table in connection.introspection.table_names():
            cur.execute(f'SELECT * FROM "{table}"')
            parts.extend(str(v) for row in cur.fetchall() for v in row)
    return "\n".join(parts)


def rich_customer(zhang, li, sam):
    order = make_order(zhang, "288.00", note="张伟 自提")
    OrderLine.objects.create(order=order, product_name="连衣裙", quantity=1, unit_price="288.00")
    make_order(zhang, "99.50", days_ago=20)
    Communication.objects.create(customer=zhang, method="phone", content="张伟说下周来店 13812345678",
                                 outcome="约好")
    FollowUp.objects.create(customer=zhang, title="回访张伟", due="2026-01-01", assignee=sam)
    Feedback.objects.create(customer=zhang, comment="张伟：服务很好")
    Consent.objects.create(customer=zhang, channel="sms", granted=True)
    zhang.notes = "张伟的备注"
    zhang.extra = {"vip": "张伟"}
    zhang.save()
    duplicate = make_customer(name="张伟", wechat="zw_old")
    merge_customers(zhang, duplicate)
    make_order(li, "1000.00")


def test_export_holds_the_profile_and_the_orders(zhang, li, sam):
    rich_customer(zhang, li, sam)
    zhang.refresh_from_db()
    out = io.BytesIO()
    privacy.export_xlsx(zhang, out)
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    profile = {row[0]: row[1] for row in book["客户档案"].iter_rows(min_row=2, values_only=True)}
    # "+…" is escaped like every formula-like text (kehu.lib.cells.neutralise)
    assert profile["手机"] == "'+8613812345678" and profile["姓名/名称"] == "张伟"
    assert {"客户档案", "消费记录", "订单明细", "沟通记录", "跟进任务", "客户反馈", "营销授权", "合并记录"} \
        <= set(book.sheetnames)
    orders = list(book["消费记录"].iter_rows(values_only=True))
    amount_col = orders[0].index("金额（元）")
    assert sorted(float(row[amount_col]) for row in orders[1:]) == [99.5, 288.0]
    data = json.loads(_json(zhang))
    texts = json.dumps(data, ensure_ascii=False)
    assert "连衣裙" in texts and "288.00" in texts and "下周来店" in texts and "zw_old" in texts


def test_the_export_workbook_reads_in_chinese_labels_with_fitting_columns(zhang, li, sam):
    rich_customer(zhang, li, sam)
    Order.objects.filter(customer=zhang).update(payment_method="wechat_pay")
    FollowUp.objects.create(customer=zhang, title="再回访", due="2026-02-01", assignee=sam,
                            communication=Communication.objects.get(customer=zhang))
    out = io.BytesIO()
    privacy.export_xlsx(zhang, out)
    book = openpyxl.load_workbook(io.BytesIO(out.getvalue()))
    texts = {str(c) for ws in book.worksheets for row in ws.iter_rows(values_only=True) for c in row if c}
    orders = list(book["消费记录"].iter_rows(values_only=True))
    payment = orders[0].index("支付方式")
    assert {row[payment] for row in orders[1:]} == {"微信支付"}
    assert "wechat_pay" not in texts and "sms" not in texts
    consents = list(book["营销授权"].iter_rows(values_only=True))
    assert consents[0][:3] == ("ID", "客户", "营销渠道") and consents[1][2] == "短信" and "是" in consents[1]
    follow = list(book["跟进任务"].iter_rows(values_only=True))
    assert "沟通记录" in follow[0] and "创建人" in follow[0]
    assert not any("object (" in t for t in texts)  # never "Communication object (56)"
    headers = {h for ws in book.worksheets for h in next(ws.iter_rows(values_only=True))}
    assert not [h for h in headers if h and h.isascii() and h != "ID"], headers
    profile = book["客户档案"]
    assert profile.column_dimensions["A"].width >= 10 and profile.column_dimensions["B"].width >= 16


def _json(customer):
    out = io.BytesIO()
    privacy.export_json(customer, out)
    return out.getvalue().decode()


def test_erase_keeps_revenue_and_leaves_no_trace(client, mary, zhang, li, sam):
    rich_customer(zhang, li, sam)
    client.force_login(mary)
    client.get(reverse("customers:detail", args=[zhang.code]))  # an audited view
    before = shop_revenue()
    orders = Order.objects.filter(customer=zhang).count()
    page = client.get(reverse("customers:privacy_erase", args=[zhang.code]))
    assert page.status_code == 200
    refused = client.post(reverse("customers:privacy_erase", args=[zhang.code]), {"confirm_code": "nope"})
    assert refused.status_code == 400 and Customer.objects.get(pk=zhang.pk).name == "张伟"
    done = client.post(reverse("customers:privacy_erase", args=[zhang.code]), {"confirm_code": zhang.code})
    assert done.status_code == 302
    assert shop_revenue() == before
    assert Order.objects.filter(customer=zhang).count() == orders
    erased = Customer.objects.get(pk=zhang.pk)
    assert erased.name == f"已注销客户 {zhang.code}"
    assert (erased.mobile, erased.email, erased.wechat, erased.mobile_hash, erased.notes, erased.extra) == \
        ("", "", "", "", "", {})
    text = raw_database_text()
    for trace in ("张伟", "13812345678", "zhangwei@example.com", "zw_2024", "zw_old", "下周来店"):
        assert trace not in text, trace
    entry = AuditEntry.objects.get(action=AuditAction.ERASE)
    assert entry.user == mary and entry.target_code == zhang.code and entry.details["mode"] == "anonymised"


def test_a_customer_without_orders_is_deleted_outright(alice, li):
    code = li.code
    call_command("pipl", "erase", code, "--yes", verbosity=0)
    assert not Customer.objects.filter(code=code).exists()
    assert "李娜" not in raw_database_text()
    assert AuditEntry.objects.get(action=AuditAction.ERASE).target_code == code


def test_the_command_exports_json_with_the_orders(tmp_path, zhang, li, sam):
    rich_customer(zhang, li, sam)
    out = tmp_path / "zhang.json"
    call_command("pipl", "export", zhang.code, "-o", str(out), verbosity=0)
    data = json.loads(out.read_text())
    assert data["profile"]["手机"] == "+8613812345678"
    assert any("288.00" in json.dumps(rows) for rows in data["sections"].values())
    assert AuditEntry.objects.get(action=AuditAction.PIPL_EXPORT).details["format"] == "json"


def test_the_pages_are_for_admins_and_managers(client, mary, sam, zhang):
    client.force_login(sam)
    assert client.get(reverse("customers:privacy", args=[zhang.code])).status_code == 403
    assert client.post(reverse("customers:privacy_export", args=[zhang.code, "xlsx"])).status_code == 403
    client.force_login(mary)
    page = client.get(reverse("customers:detail", args=[zhang.code])).content.decode()
    assert reverse("customers:privacy", args=[zhang.code]) in page
    assert client.get(reverse("customers:privacy", args=[zhang.code])).status_code == 200
    response = client.post(reverse("customers:privacy_export", args=[zhang.code, "xlsx"]))
    openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))
    assert AuditEntry.objects.filter(action=AuditAction.PIPL_EXPORT, user=mary).exists()
