"""Issue 10 items 4–5: the merchants' own words, and identity conflicts surfaced, never resolved silently."""

import pytest

from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Preference
from kehu.exchange import values as v
from kehu.exchange.importer import import_file
from kehu.sales.models import Order
from tests.conftest import make_customer

from .helpers import write_xlsx


@pytest.mark.parametrize(("parse", "raw", "expected"), [
    (v.parse_marketing_channel, "微信公众号", "wechat"),
    (v.parse_marketing_channel, "公众号", "wechat"),
    (v.parse_marketing_channel, "电联", "phone"),
    (v.parse_communication_method, "面对面交流", "visit"),
    (v.parse_communication_method, "当面", "visit"),
    (v.parse_communication_method, "电联", "phone"),
    (v.parse_communication_method, "上门拜访客户", "visit"),
    (v.parse_payment_method, "微信转账", "wechat_pay"),
    (v.parse_payment_method, "支付宝转账", "alipay"),
    (v.parse_payment_method, "ＷｅＣｈａｔ　Ｐａｙ", "wechat_pay"),  # full width, ideographic space
    (v.parse_payment_method, " 微信 转账 ", "wechat_pay"),
    (v.parse_gender, "男士", "male"),
    (v.parse_gender, "FEMALE", "female"),
    (v.parse_company_size, "10~49人", "10-49"),
    (v.parse_company_size, "50 至 199 人", "50-199"),
    (v.parse_order_status, "交易成功", "completed"),
    (v.parse_province, "广东", "广东省"),
    (v.parse_province, "内蒙", "内蒙古自治区"),
    (v.parse_province, "广西", "广西壮族自治区"),
    (v.parse_province, "新疆", "新疆维吾尔自治区"),
    (v.parse_province, "北京", "北京市"),
    (v.parse_province, "广东省深圳市", "广东省"),
    (v.parse_city, "广州", "广州市"),
    (v.parse_city, " 深圳市 ", "深圳市"),
    (v.parse_city, "延边", "延边"),
])
def test_it_reads_the_words_people_write(parse, raw, expected):
    assert parse(raw) == expected


@pytest.mark.parametrize(("parse", "raw"), [
    (v.parse_province, "南京"),  # a city, not a province: 京 alone is never read inside a longer word
    (v.parse_province, "火星"),
    (v.parse_order_status, "未完成"),  # contains 完成, but statuses match whole words only
    (v.parse_payment_method, "贝壳"),
])
def test_it_refuses_words_it_cannot_place(parse, raw):
    with pytest.raises(v.BadValue, match=raw):
        parse(raw)


def test_a_word_nobody_knows_leaves_that_field_empty_and_imports_the_rest(tmp_path, alice):
    path = write_xlsx(tmp_path / "客户.xlsx", {
        "客户": [["客户编号", "姓名", "性别", "省份", "城市", "公司规模"],
                 ["Z1", "赵一", "男士", "内蒙", "包头", "10~49人"],
                 ["Q2", "钱二", "不详细", "火星", "广州", "很多人"]],
        "偏好": [["客户编号", "偏好营销渠道"], ["Z1", "微信公众号"], ["Q2", "飞鸽传书"]],
        "沟通": [["客户编号", "沟通时间", "沟通方式", "沟通内容"], ["Z1", "2024-03-01 10:00", "当面", "回访"]],
    })
    result = import_file(path, user=alice)
    assert not result.errors
    zhao, qian = Customer.objects.get(name="赵一"), Customer.objects.get(name="钱二")
    assert (zhao.gender, zhao.province, zhao.city, zhao.company_size) == ("male", "内蒙古自治区", "包头市", "10-49")
    assert (qian.gender, qian.province, qian.city, qian.company_size) == ("", "", "广州市", "")
    warned = {(p.sheet, p.row, p.column): p for p in result.warnings}
    assert set(warned) == {("客户", 3, "性别"), ("客户", 3, "省份"), ("客户", 3, "公司规模"),
                           ("偏好", 3, "偏好营销渠道")}
    assert warned[("客户", 3, "省份")].value == "火星" and "未导入" in warned[("客户", 3, "省份")].message
    assert warned[("偏好", 3, "偏好营销渠道")].value == "飞鸽传书"
    assert Preference.objects.get(customer=zhao).preferred_channel == "wechat"
    assert Preference.objects.get(customer=qian).preferred_channel == ""
    assert Communication.objects.get(customer=zhao).method == "visit"


def conflict_file(tmp_path, mobile="13812345678"):
    return write_xlsx(tmp_path / "冲突.xlsx", {"客户": [
        ["客户编号", "姓名", "手机", "城市"],
        ["K100", "张伟新", mobile, "佛山"],
    ]})


def test_a_mobile_under_another_code_is_a_conflict_rejected_by_default(tmp_path, alice, zhang):
    code = zhang.code
    result = import_file(conflict_file(tmp_path), user=alice)
    zhang.refresh_from_db()
    assert (zhang.code, zhang.name, zhang.city) == (code, "张伟", "深圳市")
    assert not Customer.objects.filter(code="K100").exists()
    assert result.counts["customers"].rejected == 1
    [error] = result.errors
    assert (error.sheet, error.row, error.column, error.value) == ("客户", 2, "客户编号", "K100")
    assert f"已有客户“张伟”（客户编号 {code}）" in error.message and "手机号码相同" in error.message


def test_on_conflict_skip_leaves_the_row_out_and_says_so(tmp_path, alice, zhang):
    code = zhang.code
    result = import_file(conflict_file(tmp_path), user=alice, on_conflict="skip")
    zhang.refresh_from_db()
    assert (zhang.code, zhang.name) == (code, "张伟")
    assert result.counts["customers"].skipped == 1
    [warning] = result.warnings
    assert (warning.row, warning.column) == (2, "客户编号") and "已跳过本行" in warning.message


def test_on_conflict_keep_code_merges_the_row_and_keeps_the_existing_code(tmp_path, alice, zhang):
    code = zhang.code
    result = import_file(conflict_file(tmp_path), user=alice, on_conflict="keep-code")
    zhang.refresh_from_db()
    assert (zhang.code, zhang.name, zhang.city) == (code, "张伟新", "佛山市")
    assert Customer.objects.count() == 1
    [warning] = result.warnings
    assert f"保留其编号 {code}" in warning.message and warning.value == "K100"


def test_a_conflict_between_two_rows_of_the_file_names_both(tmp_path, alice):
    path = write_xlsx(tmp_path / "两行.xlsx", {"客户": [
        ["客户编号", "姓名", "手机"], ["A1", "甲", "13900001111"], ["A2", "乙", "139 0000 1111"]]})
    result = import_file(path, user=alice)
    assert list(Customer.objects.values_list("code", "name")) == [("A1", "甲")]
    [error] = result.errors
    assert error.row == 3 and "与“客户”第2行（客户编号 A1）手机号码相同" in error.message


def test_a_conflict_with_a_customer_the_sales_rep_may_not_see_discloses_nothing(tmp_path, sam, li):
    result = import_file(conflict_file(tmp_path, mobile="13987654321"), user=sam)
    li.refresh_from_db()
    assert li.name == "李娜"
    text = " ".join(f"{p.message} {p.value}" for p in result.problems)
    assert "李娜" not in text and li.code not in text
    assert "另一位同事的客户" in text


def test_a_purchase_of_an_unknown_customer_creates_it_with_a_warning_or_is_rejected(tmp_path, alice):
    make_customer(code="C1", name="老客")
    path = write_xlsx(tmp_path / "消费.xlsx", {"消费": [
        ["客户编号", "消费日期", "消费金额", "支付方式"],
        ["C1", "2024-03-01", "100", "微信转账"],
        ["X9", "2024-03-02", "50", "支付宝转账"]]})
    rejected = import_file(path, user=alice, unknown_customers="reject")
    assert [(p.row, p.column, p.value) for p in rejected.errors] == [(3, "客户编号", "X9")]
    assert not Customer.objects.filter(code="X9").exists()
    Order.objects.all().delete()
    result = import_file(path, user=alice)
    assert not result.errors
    [warning] = result.warnings
    assert (warning.row, warning.column, warning.value) == (3, "客户编号", "X9")
    assert "已新建客户“X9”（客户编号 X9）" in warning.message
    assert sorted(Order.objects.values_list("customer__code", "payment_method")) == [
        ("C1", "wechat_pay"), ("X9", "alipay")]


def test_a_purchase_whose_code_is_nobodys_but_whose_mobile_is_a_customers_is_a_conflict(tmp_path, alice, zhang):
    path = write_xlsx(tmp_path / "消费.xlsx", {"消费": [
        ["客户编号", "手机", "消费日期", "消费金额"],
        ["K5", "13812345678", "2024-03-01", "100"],
        ["K5", "", "2024-03-02", "60"]]})
    result = import_file(path, user=alice, dry_run=True)
    [error] = result.errors
    assert (error.row, error.column, error.value) == (2, "客户编号", "K5")
    assert f"手机号码属于已有客户“张伟”（客户编号 {zhang.code}），但本行客户编号为 K5" in error.message
    # The next row names K5 alone: a customer nobody has, created with a warning.
    assert [(p.row, p.column) for p in result.warnings] == [(3, "客户编号")]
    assert result.counts["purchases"].new == 1
    merged = import_file(path, user=alice, on_conflict="keep-code")
    assert not merged.errors
    assert sorted(Order.objects.values_list("customer__code", "amount")) == [(zhang.code, 60), (zhang.code, 100)]
    assert [(p.row, p.column) for p in merged.warnings] == [(2, "客户编号")]
    assert not Customer.objects.filter(code="K5").exists()


def test_a_later_sheet_finds_by_name_a_customer_an_earlier_sheet_created(tmp_path, alice):
    path = write_xlsx(tmp_path / "按姓名.xlsx", {
        "客户": [["姓名", "性别"], ["赵一", "男"]],
        "偏好": [["姓名", "偏好营销渠道"], ["赵一", "微信公众号"]],
    })
    result = import_file(path, user=alice)
    assert not result.errors
    assert Preference.objects.get(customer__name="赵一").preferred_channel == "wechat"
