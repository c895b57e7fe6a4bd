import pytest

from kehu.lib.masking import mask_email, mask_mobile
from kehu.lib.phones import InvalidMobile, LossyMobile, normalize_mobile


@pytest.mark.parametrize("raw", [
    "13812345678", "138 1234 5678", "138-1234-5678", "+86 138 1234 5678", "+8613812345678",
    "8613812345678", "008613812345678", 13812345678, 13812345678.0, "13812345678.0", "1.3812345678E10",
])
def test_it_normalises_the_ways_people_type_a_mobile(raw):
    assert normalize_mobile(raw) == "+8613812345678"


@pytest.mark.parametrize("raw", ["12345", "1381234567", "23812345678", "abc", "", "010-62345678"])
def test_it_rejects_what_is_not_a_mobile_with_a_chinese_message(raw):
    with pytest.raises(InvalidMobile) as err:
        normalize_mobile(raw)
    assert "手机号码" in str(err.value)


def test_it_masks_the_middle_of_a_mobile():
    assert mask_mobile("+8613812345678") == "138****5678"


def test_it_masks_the_local_part_of_an_email():
    assert mask_email("zhangwei@example.com") == "z****@example.com"


@pytest.mark.parametrize("raw", ["1.38123E+10", "1.3812E10", "8.61381E+12"])
def test_it_refuses_a_mobile_a_spreadsheet_showed_in_scientific_notation_with_digits_lost(raw):
    with pytest.raises(LossyMobile, match="科学计数法"):
        normalize_mobile(raw)


@pytest.mark.parametrize("raw", ["1.3812345678E+10", "1.3812345678e10", 13812345678.0, 13812345678])
def test_it_reads_a_mobile_in_full_precision_even_as_a_number(raw):
    assert normalize_mobile(raw) == "+8613812345678"
