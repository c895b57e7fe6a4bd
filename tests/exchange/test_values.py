import datetime
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kehu.exchange import headers as h
from kehu.exchange import values as v


@pytest.mark.parametrize("raw", ["2024/1/5", "2024-01-05", "2024年1月5日", "2024.1.5", "20240105", 45296,
                                 45296.0, "45296", datetime.date(2024, 1, 5), datetime.datetime(2024, 1, 5),
                                 " 2024 年 1 月 5 日 ", "2024／1／5"])
def test_it_reads_dates_as_people_type_them(raw):
    assert v.parse_date(raw) == datetime.date(2024, 1, 5)


def test_it_reads_times_and_rounds_excel_float_noise_to_the_second():
    assert v.parse_datetime_naive("2024-01-05 14:30") == datetime.datetime(2024, 1, 5, 14, 30)
    assert v.parse_datetime_naive("2024/1/5 9:05:07") == datetime.datetime(2024, 1, 5, 9, 5, 7)
    noisy = datetime.datetime(2024, 1, 5, 14, 29, 59, 999_700)
    assert v.parse_datetime(noisy).second == 0 and v.parse_datetime(noisy).minute == 30


@pytest.mark.parametrize("raw", ["明天", "2024-13-01", "2024/2/30", "", "1/5"])
def test_it_names_what_is_not_a_date(raw):
    with pytest.raises(v.BadValue):
        v.parse_date(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    (1200, "1200"), ("¥1,200.00", "1200.00"), ("1200元", "1200"), ("￥ 99.5", "99.5"), ("1.2万", "12000.0"),
    ("RMB 88", "88"), (88.8, "88.8"), ("-5", "-5"),
])
def test_it_reads_amounts(raw, expected):
    assert v.parse_amount(raw) == Decimal(expected)


@pytest.mark.parametrize("raw", ["一百", "1,2,3x", "", "¥"])
def test_it_names_what_is_not_an_amount(raw):
    with pytest.raises(v.BadValue):
        v.parse_amount(raw)


def test_it_reads_lists_payment_methods_and_channels():
    assert v.parse_list("服装、化妆品,  鞋；服装") == ["服装", "化妆品", "鞋"]
    assert v.parse_list("Nike Air、连衣裙", spaces=False) == ["Nike Air", "连衣裙"]
    assert [v.parse_payment_method(x) for x in ("微信", "微信支付", "WeChat Pay", "支付宝", "刷卡", "现金")] == [
        "wechat_pay", "wechat_pay", "wechat_pay", "alipay", "card", "cash"]
    assert v.parse_marketing_channel("公众号") == "wechat"
    assert v.parse_gender("女士") == "female"
    with pytest.raises(v.BadValue, match="可选：现金、银行卡"):
        v.parse_payment_method("贝壳")


@given(st.dates(min_value=datetime.date(1901, 1, 1), max_value=datetime.date(2099, 12, 31)))
def test_any_date_reads_back_in_every_way_it_is_written(day):
    for text in (day.isoformat(), f"{day.year}/{day.month}/{day.day}", f"{day.year}年{day.month}月{day.day}日",
                 f"{day.year}.{day.month}.{day.day}", day.strftime("%Y%m%d")):
        assert v.parse_date(text) == day


@pytest.mark.parametrize(("header", "field"), [
    ("客户编号", "code"), ("会员号", "code"), ("ID", "code"), ("客户名称", "name"), ("手机号码", "mobile"),
    ("联系方式", "mobile"), ("Mobile Phone", "mobile"), ("微信号", "wechat"), ("邮箱", "email"),
    ("收货地址", "address"), ("入会时间", "registered_at"), ("  姓名 * ", "name"),
])
def test_customer_headers(header, field):
    assert h.field_for(header, h.CUSTOMERS) == field


@pytest.mark.parametrize(("header", "field"), [
    ("下单时间", "ordered_at"), ("日期", "ordered_at"), ("实付金额(元)", "amount"), ("实付金额（元）", "amount"),
    ("金额（元）", "amount"), ("购买商品", "product"), ("商品名称", "product"), ("支付方式", "payment_method"),
])
def test_purchase_headers(header, field):
    assert h.field_for(header, h.PURCHASES) == field


def test_sheet_kinds_from_names_and_headers():
    assert h.guess_kind("Sheet1", ["编号", "姓名", "性别", "生日"]) == h.CUSTOMERS
    assert h.guess_kind("Sheet2", ["会员号", "日期", "金额"]) == h.PURCHASES
    assert h.guess_kind("偏好信息", ["客户编号", "商品偏好", "营销渠道偏好"]) == h.PREFERENCES
    assert h.guess_kind("跟进", ["客户编号", "沟通日期", "沟通方式", "沟通内容"]) == h.COMMUNICATIONS
    assert h.guess_kind("评价", ["客户编号", "反馈日期", "评价内容"]) == h.FEEDBACK
    assert h.guess_kind("说明", ["填写说明"]) is None


@pytest.mark.parametrize(("raw", "expected", "precision"), [
    ("1/5/24 13:45", datetime.datetime(2024, 1, 5, 13, 45), v.MINUTE),  # LibreOffice in English
    ("1/5/2024 13:45", datetime.datetime(2024, 1, 5, 13, 45), v.MINUTE),  # Excel's m/d/yyyy h:mm
    ("1/5/2024 1:45:09 PM", datetime.datetime(2024, 1, 5, 13, 45, 9), v.SECOND),
    ("13/5/24", datetime.datetime(2024, 5, 13), v.DAY),  # a first number above 12 is a day
    ("2024/1/5 13:45", datetime.datetime(2024, 1, 5, 13, 45), v.MINUTE),  # Chinese Excel's default
    ("2024-01-05 13:45:09", datetime.datetime(2024, 1, 5, 13, 45, 9), v.SECOND),
    ("2024年1月5日", datetime.datetime(2024, 1, 5), v.DAY),
    (datetime.datetime(2024, 1, 5, 13, 45, 9), datetime.datetime(2024, 1, 5, 13, 45, 9), v.SECOND),
])
def test_it_reads_what_a_spreadsheet_program_saved_and_knows_how_precise_it_is(raw, expected, precision):
    assert v.parse_datetime_naive(raw) == expected
    assert v.time_precision(raw) == precision


def test_a_stored_time_is_the_files_time_at_the_precision_the_file_gives():
    from django.utils import timezone

    read = timezone.make_aware
    noisy = read(datetime.datetime(2024, 1, 5, 13, 45, 59, 600_000))  # exported (to the second) as 13:46:00
    assert v.same_time(noisy, read(datetime.datetime(2024, 1, 5, 13, 46)), v.SECOND)
    assert not v.same_time(noisy, read(datetime.datetime(2024, 1, 5, 13, 45, 59)), v.SECOND)
    stored = read(datetime.datetime(2024, 1, 5, 13, 45, 59))
    assert v.same_time(stored, read(datetime.datetime(2024, 1, 5, 13, 45)), v.MINUTE)  # seconds cut (LibreOffice)
    assert v.same_time(stored, read(datetime.datetime(2024, 1, 5, 13, 46)), v.MINUTE)  # or rounded
    assert not v.same_time(stored, read(datetime.datetime(2024, 1, 5, 13, 44)), v.MINUTE)
    assert not v.same_time(stored, read(datetime.datetime(2024, 1, 5, 13, 45)), v.SECOND)
    assert v.same_time(stored, read(datetime.datetime(2024, 1, 5)), v.DAY)
    assert not v.same_time(stored, read(datetime.datetime(2024, 1, 6)), v.DAY)
