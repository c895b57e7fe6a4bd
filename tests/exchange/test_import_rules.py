import datetime
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import call_command
from django.utils import timezone

from kehu.customers.models import Customer, Tag
from kehu.engagement.models import Communication, Consent, Feedback, FeedbackDimension, FollowUp, Preference
from kehu.exchange.importer import import_file, revert_batch
from kehu.exchange.models import ImportBatch
from kehu.exchange.readers import read_workbook
from kehu.exchange.reports import write_error_report
from kehu.sales.models import Order
from tests.conftest import make_customer, make_order

from .helpers import read_xlsx, write_csv, write_xlsx

pytestmark = pytest.mark.django_db

TOMORROW = (timezone.localdate() + datetime.timedelta(days=2)).isoformat()


def test_it_reads_a_gbk_csv_with_chinese_headers(tmp_path, alice):
    path = write_csv(tmp_path / "会员.csv", [
        ["编号", "名字", "联系方式", "电子邮箱", "注册日期", "收货地址"],
        ["A01", "赵敏", "13700001111", "zm@example.com", "2023年5月6日", "广州市天河区"],
        ["A02", "钱多多", "1.3700002222E10", "", "2023.5.7", ""],
    ], encoding="gbk")
    assert read_workbook(path)[0].encoding == "gbk"
    result = import_file(path, user=alice)
    assert result.counts["customers"].new == 2, result.problems
    zhao = Customer.objects.get(code="A01")
    assert (zhao.name, zhao.mobile, zhao.address) == ("赵敏", "+8613700001111", "广州市天河区")
    assert Customer.objects.get(code="A02").mobile == "+8613700002222"


def test_it_reads_a_gb18030_csv_and_a_utf8_bom_csv(tmp_path, alice):
    rows = [["姓名", "手机"], ["𠮷野家", "13700003333"]]
    gb = write_csv(tmp_path / "a.csv", rows, encoding="gb18030")
    bom = write_csv(tmp_path / "b.csv", [["姓名", "手机"], ["王五", "13700004444"]], encoding="utf-8-sig")
    assert read_workbook(gb)[0].encoding == "gb18030"
    assert read_workbook(bom)[0].encoding == "utf-8-sig"
    assert import_file(gb, user=alice).counts["customers"].new == 1
    assert import_file(bom, user=alice).counts["customers"].new == 1
    assert Customer.objects.filter(name="𠮷野家").exists()


def test_it_recognises_english_headers_and_sheet_kinds_from_headers_alone(tmp_path, alice):
    path = write_xlsx(tmp_path / "export.xlsx", {
        "Sheet1": [["Customer ID", "Name", "Mobile", "Email"], ["E1", "Amy", "+86 139 0000 1111", "amy@example.com"]],
        "Sheet2": [["Customer ID", "Order Date", "Amount", "Payment Method"], ["E1", "2024-02-03", "¥88", "Alipay"]],
    })
    sheets = read_workbook(path)
    assert [s.kind for s in sheets] == ["customers", "purchases"]
    result = import_file(path, user=alice)
    assert (result.counts["customers"].new, result.counts["purchases"].new) == (1, 1)
    assert Order.objects.get().payment_method == "alipay"


def bad_customer_workbook(tmp_path):
    """100 customers, every tenth row broken in a different way; data starts at Excel row 4 (title, blank, header)."""
    rows = [["客户编号", "姓名", "手机号", "邮箱", "注册时间", "性别"]]
    broken = {}
    for i in range(100):
        row = [f"C{i:03d}", f"客户{i}", f"139{i:08d}", f"c{i}@example.com", "2024-01-01", "男"]
        excel_row = i + 4
        if i % 10 == 3:
            row[1] = ""
            broken[excel_row] = "error"  # no name
        elif i % 10 == 7:
            row[4] = TOMORROW
            broken[excel_row] = "error"  # registered in the future
        elif i % 10 == 5:
            row[2] = "12345"
            broken[excel_row] = "warning"  # bad mobile: kept without it
        elif i % 10 == 9:
            row[3] = "not-an-email"
            broken[excel_row] = "warning"
        rows.append(row)
    return write_xlsx(tmp_path / "客户.xlsx", {"客户资料": rows}, titles={"客户资料": "客户资料表"}), broken


def test_it_reports_every_bad_row_with_its_excel_row_and_imports_all_valid_ones(tmp_path, alice):
    path, broken = bad_customer_workbook(tmp_path)
    result = import_file(path, user=alice)
    counts = result.counts["customers"]
    assert (counts.new, counts.rejected) == (80, 20)
    assert {p.row for p in result.errors} == {r for r, level in broken.items() if level == "error"}
    assert {p.row for p in result.warnings} == {r for r, level in broken.items() if level == "warning"}
    no_name = next(p for p in result.errors if p.row == 7)
    assert (no_name.sheet, no_name.column) == ("客户资料", "姓名")
    assert "姓名" in no_name.message
    future = next(p for p in result.errors if p.row == 11)
    assert future.column == "注册时间" and "不能晚于今天" in future.message
    bad_mobile = next(p for p in result.warnings if p.row == 9)
    assert (bad_mobile.column, bad_mobile.value) == ("手机号", "12345")
    assert Customer.objects.get(code="C005").mobile == ""
    assert Customer.objects.get(code="C009").email == ""
    assert not Customer.objects.filter(code__in=["C003", "C007"]).exists()


def test_the_error_report_mirrors_the_input_with_an_error_column_and_reimports(tmp_path, alice):
    path, _ = bad_customer_workbook(tmp_path)
    result = import_file(path, user=alice)
    report = tmp_path / "错误报告.xlsx"
    assert write_error_report(read_workbook(path), result.problems, report) == 40  # 20 rejected, 20 warned
    sheet = read_xlsx(report)["客户资料"]
    assert sheet[0] == ["客户编号", "姓名", "手机号", "邮箱", "注册时间", "性别", "错误说明", "原行号"]
    assert [r[7] for r in sheet[1:4]] == [7, 9, 11]
    assert "（已导入）" in sheet[2][6]
    assert "姓名" in sheet[1][6]
    # The user fixes the two kinds of rejected rows and imports the report.
    from openpyxl import load_workbook

    wb = load_workbook(report)
    ws = wb["客户资料"]
    for row in ws.iter_rows(min_row=2):
        if not row[1].value:
            row[1].value = "补上的名字"
        if row[4].value == TOMORROW:
            row[4].value = "2024-01-02"
    wb.save(report)
    again = import_file(report, user=alice)
    assert again.counts["customers"].new == 20
    assert again.counts["customers"].unchanged == 20
    assert again.counts["customers"].rejected == 0
    assert Customer.objects.count() == 100


def purchases_with_bad_rows(tmp_path):
    rows = [["客户编号", "消费日期", "消费金额", "商品名称", "支付方式"]]
    bad = {}
    for i in range(200):
        row = [f"C{i % 20:03d}", f"2024/{i % 12 + 1}/{i % 28 + 1}", f"{100 + i}.50", "咖啡", "微信"]
        excel_row = i + 2
        if i % 10 == 1:
            kind = i % 50
            if kind < 10:
                row[0] = "NOPE"
            elif kind < 20:
                row[1] = TOMORROW
            elif kind < 30:
                row[2] = "-5"
            elif kind < 40:
                row[2] = "一百"
            else:
                row[4] = "贝壳"
            bad[excel_row] = row
        rows.append(row)
    return write_csv(tmp_path / "消费.csv", rows, encoding="gbk"), bad


def test_bad_purchase_rows_are_reported_and_the_rest_imported(tmp_path, alice):
    for i in range(20):
        make_customer(code=f"C{i:03d}", name=f"客户{i}")
    path, bad = purchases_with_bad_rows(tmp_path)
    result = import_file(path, user=alice, unknown_customers="reject")
    returns = {row for row, cells in bad.items() if cells[2] == "-5"}
    unknown_word = {row for row, cells in bad.items() if cells[4] == "贝壳"}
    assert len(returns) == len(unknown_word) == 4
    # A negative amount is a return, not a mistake: kept as a refunded order and said so, never an error.
    # An unknown payment word leaves the payment method 其他 with a warning; the order is imported.
    assert result.counts["purchases"].new == 188
    assert result.counts["purchases"].rejected == 12
    assert {p.row for p in result.errors} == set(bad) - returns - unknown_word
    messages = {p.row: (p.column, p.message) for p in result.errors}
    assert messages[2 + 1] == ("客户编号", "找不到该客户（客户编号不存在），请先导入客户信息")
    assert messages[2 + 11][0] == "消费日期" and "不能晚于今天" in messages[2 + 11][1]
    assert "不是有效的消费金额" in messages[2 + 31][1]
    warned = {p.row: (p.column, p.value, p.message) for p in result.warnings}
    assert set(warned) == unknown_word
    assert warned[2 + 41][:2] == ("支付方式", "贝壳") and "不是可识别的支付方式" in warned[2 + 41][2]
    assert Order.objects.filter(payment_method="other").count() == 4
    assert any("取消/退货单 4 张（合计 20.00）" in p.message for p in result.notes)
    assert Order.objects.completed().count() == 184
    assert list(Order.objects.exclude(status="completed").order_by().values_list("status", "amount").distinct()) == [
        ("refunded", Decimal("5.00"))]
    assert Order.objects.filter(amount=Decimal("100.50")).get().ordered_at == timezone.make_aware(
        datetime.datetime(2024, 1, 1))


def test_a_dry_run_gives_the_real_counts_and_writes_nothing(tmp_path, alice, zhang):
    path, _ = bad_customer_workbook(tmp_path)
    dry = import_file(path, user=alice, dry_run=True)
    assert Customer.objects.count() == 1
    assert not ImportBatch.objects.exists()
    real = import_file(path, user=alice)
    assert dry.counts == real.counts
    assert len(dry.problems) == len(real.problems)


def test_duplicates_in_the_file_and_the_database_follow_on_duplicate(tmp_path, alice, zhang):
    path = write_xlsx(tmp_path / "dups.xlsx", {"客户": [
        ["姓名", "手机", "微信号", "客户评级"],
        ["张伟（新）", "138-1234-5678", "", "A"],  # zhang, by mobile
        ["周杰", "13600001111", "zj", "B"],
        ["周杰伦", "", "ZJ", "C"],  # the row above, by WeChat ID
    ]})
    skipped = import_file(path, user=alice, on_duplicate="skip")
    assert (skipped.counts["customers"].new, skipped.counts["customers"].skipped) == (1, 2)
    zhang.refresh_from_db()
    assert zhang.name == "张伟"

    Customer.objects.exclude(pk=zhang.pk).delete()
    updated = import_file(path, user=alice, on_duplicate="update")
    assert (updated.counts["customers"].new, updated.counts["customers"].updated) == (1, 2)
    zhang.refresh_from_db()
    assert (zhang.name, zhang.grade) == ("张伟（新）", "A")
    zhou = Customer.objects.get(mobile_hash=Customer.objects.by_mobile("+8613600001111").get().mobile_hash)
    assert (zhou.name, zhou.grade) == ("周杰伦", "C")
    merged = next(p for p in updated.warnings if p.row == 4)
    assert "第3行" in merged.message and "已合并" in merged.message

    created = import_file(path, user=alice, on_duplicate="create")
    assert created.counts["customers"].new == 3
    assert Customer.objects.filter(name="张伟（新）").count() == 2
    assert Customer.objects.by_mobile("+8613812345678").count() == 1  # the duplicate mobile was left out
    assert any("重复" in p.message for p in created.warnings)


def test_revert_restores_the_state_before_the_import(tmp_path, alice, zhang, li):
    make_order(zhang, "50.00", days_ago=10)
    zhang.tags.create(name="老客户")
    before = (zhang.name, zhang.email, zhang.grade, zhang.version)
    path = write_xlsx(tmp_path / "批量.xlsx", {
        "客户": [["客户编号", "姓名", "邮箱", "客户评级", "标签"],
                 [zhang.code, "张伟伟", "new@example.com", "A", "VIP"],
                 ["N001", "新客户", "n1@example.com", "B", "VIP"]],
        "订单": [["客户编号", "日期", "金额", "商品"],
                 [zhang.code, "2024-04-01", 10, "新品"], ["N001", "2024-04-02", 20, "新品"]],
    })
    result = import_file(path, user=alice)
    assert result.counts["customers"].updated == 1
    assert Order.objects.count() == 3
    revert_batch(result.batch, user=alice)
    zhang.refresh_from_db()
    assert (zhang.name, zhang.email, zhang.grade) == before[:3]
    assert [t.name for t in zhang.tags.all()] == ["老客户"]
    assert not Customer.objects.filter(code="N001").exists()
    assert Order.objects.count() == 1
    assert Customer.objects.by_email("zhangwei@example.com").get() == zhang
    result.batch.refresh_from_db()
    assert result.batch.status == ImportBatch.Status.REVERTED
    with pytest.raises(ValueError):
        revert_batch(result.batch)


def test_preferences_communications_and_feedback_sheets(tmp_path, alice, zhang):
    taste = FeedbackDimension.objects.create(name="服务态度")
    path = write_xlsx(tmp_path / "客户管理表格.xlsx", {
        "偏好信息": [["手机号", "商品偏好", "营销渠道偏好", "营销授权"], ["13812345678", "服装、化妆品", "微信", "是"]],
        "沟通记录": [["客户编号", "沟通日期", "沟通方式", "沟通内容", "下次跟进日期"],
                     [zhang.code, "2024-05-01", "电话", "介绍新品", "2024-05-08"],
                     [zhang.code, "2024-05-02", "飞鸽传书", "？", ""]],
        "客户反馈": [["客户编号", "反馈日期", "服务态度", "评价内容"], [zhang.code, "2024-05-03", 4, "很好"]],
    })
    result = import_file(path, user=alice)
    assert result.counts["preferences"].new == 1
    assert result.counts["communications"].new == 1
    assert result.counts["communications"].rejected == 1
    assert result.errors[0].row == 3 and result.errors[0].column == "沟通方式"
    pref = Preference.objects.get(customer=zhang)
    assert sorted(c.name for c in pref.categories.all()) == ["化妆品", "服装"]
    assert pref.preferred_channel == "wechat"
    assert Consent.objects.get(customer=zhang, channel="wechat").granted
    assert Communication.objects.get().method == "phone"
    assert FollowUp.objects.get().due == datetime.date(2024, 5, 8)
    assert Feedback.objects.get().ratings.get().dimension == taste
    again = import_file(path, user=alice)
    assert again.total("new") == 0 and again.total("updated") == 0
    revert_batch(result.batch)
    assert not Communication.objects.exists() and not FollowUp.objects.exists() and not Feedback.objects.exists()
    assert not Preference.objects.exists()


def test_victor_may_not_import(tmp_path, victor):
    path = write_csv(tmp_path / "a.csv", [["姓名"], ["某人"]])
    with pytest.raises(PermissionDenied):
        import_file(path, user=victor)


def test_sam_imports_customers_as_their_owner_and_cannot_touch_others(tmp_path, sam, li):
    path = write_csv(tmp_path / "a.csv", [["姓名", "手机"], ["新人", "13500001111"], ["李娜?", "13987654321"]])
    result = import_file(path, user=sam)
    assert Customer.objects.get(name="新人").owner == sam
    li.refresh_from_db()
    assert li.name == "李娜"  # not visible to sam: no update; the duplicate mobile is left out
    assert result.counts["customers"].new == 2


def test_the_command_runs_a_dry_run_writes_a_report_and_reverts(tmp_path, alice, capsys):
    path, _ = bad_customer_workbook(tmp_path)
    report = tmp_path / "errors.xlsx"
    call_command("import", str(path), "--dry-run", "--report", str(report), "--no-progress")
    out = capsys.readouterr().out
    assert "试运行" in out and "客户信息：新增 80，更新 0，未变 0，拒绝 20" in out
    assert Customer.objects.count() == 0
    assert report.exists()
    call_command("import", str(path), "--user", "alice", "--no-progress")
    batch = ImportBatch.objects.get()
    assert batch.user == alice and batch.counts["customers"]["new"] == 80
    call_command("import", "--revert", str(batch.pk))
    assert Customer.objects.count() == 0


def test_customer_metrics_follow_bulk_imported_orders_and_their_revert(tmp_path, alice, zhang):
    from kehu.segments.models import CustomerMetrics

    make_order(zhang, "100.00", days_ago=30)
    path = write_csv(tmp_path / "orders.csv", [["客户编号", "消费日期", "消费金额"],
                                                [zhang.code, "2024-01-05", "50"], [zhang.code, "2024-02-05", "70"]])
    result = import_file(path, user=alice)
    metrics = CustomerMetrics.objects.get(customer=zhang)
    assert (metrics.frequency, metrics.monetary) == (3, Decimal("220.00"))
    revert_batch(result.batch)
    metrics.refresh_from_db()
    assert (metrics.frequency, metrics.monetary) == (1, Decimal("100.00"))


def test_revert_keeps_tags_that_others_use_since(tmp_path, alice, li):
    path = write_csv(tmp_path / "a.csv", [["姓名", "手机", "标签"], ["新人", "13500001111", "团购"]])
    result = import_file(path, user=alice)
    li.tags.add(Tag.objects.get(name="团购"))
    revert_batch(result.batch)
    assert [t.name for t in li.tags.all()] == ["团购"]
    assert not Customer.objects.filter(name="新人").exists()
