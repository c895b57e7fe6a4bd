"""Age bands from birthdays (lib.ages): whole years on a date, leap days, no birthday, editable boundaries."""

import datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kehu.lib.ages import AgeBands, BandError, age_on, key_from_label, label

D = datetime.date


def test_it_counts_whole_years_turning_a_year_older_on_the_birthday():
    assert age_on(D(1990, 6, 15), D(2025, 6, 14)) == 34
    assert age_on(D(1990, 6, 15), D(2025, 6, 15)) == 35


def test_it_makes_someone_born_on_29_february_a_year_older_on_1_march_in_other_years():
    born = D(2000, 2, 29)
    assert age_on(born, D(2025, 2, 28)) == 24
    assert age_on(born, D(2025, 3, 1)) == 25
    assert age_on(born, D(2024, 2, 28)) == 23
    assert age_on(born, D(2024, 2, 29)) == 24


def test_it_puts_the_default_bands_where_the_issue_says():
    bands = AgeBands()
    assert bands.keys == ("<25", "25-34", "35-44", "45-54", "55+")
    as_of = D(2025, 7, 1)
    assert bands.key_of(D(2000, 7, 2), as_of) == "<25"       # 24, turns 25 tomorrow
    assert bands.key_of(D(2000, 7, 1), as_of) == "25-34"     # 25 today
    assert bands.key_of(D(1990, 7, 2), as_of) == "25-34"     # 34
    assert bands.key_of(D(1990, 7, 1), as_of) == "35-44"
    assert bands.key_of(D(1970, 7, 1), as_of) == "55+"
    assert bands.key_of(D(2000, 2, 29), D(2025, 2, 28)) == "<25"
    assert bands.key_of(D(2000, 2, 29), D(2025, 3, 1)) == "25-34"


def test_it_calls_a_customer_without_birthday_unknown():
    assert AgeBands().key_of(None, D(2025, 1, 1)) == ""
    assert label("") == "未知" and label("25-34") == "25–34" and label("55+") == "55+"
    assert key_from_label("25–34") == "25-34" and key_from_label("未知") == ""


@pytest.mark.parametrize("text", ["", "35, 25", "25, 25", "0, 30", "25, 三十", "1,2,3,4,5,6,7,8,9", "200"])
def test_it_refuses_boundaries_that_make_no_bands(text):
    with pytest.raises(BandError):
        AgeBands.parse(text)


def test_it_reads_boundaries_as_people_type_them():
    assert AgeBands.parse("18，30、 40 60").boundaries == (18, 30, 40, 60)
    assert AgeBands.from_list(["bad"]) == AgeBands() and AgeBands.from_list([]) == AgeBands()


boundaries = st.lists(st.integers(1, 120), min_size=1, max_size=8, unique=True).map(lambda v: tuple(sorted(v)))
days = st.dates(D(1900, 1, 1), D(2030, 12, 31))


@given(boundaries, days, days)
def test_every_birthday_falls_in_exactly_the_band_that_holds_its_age(cuts, birthday, as_of):
    bands = AgeBands(cuts)
    age = age_on(birthday, as_of)
    key = bands.key_of(birthday, as_of)
    assert key in bands.keys
    position = bands.keys.index(key)
    low = cuts[position - 1] if position else None
    high = cuts[position] if position < len(cuts) else None
    assert (low is None or age >= low) and (high is None or age < high)


@given(boundaries, days, st.integers(0, 3000))
def test_bands_never_get_younger_as_the_days_pass(cuts, birthday, later):
    bands = AgeBands(cuts)
    as_of = max(birthday, D(1990, 1, 1))
    later_day = as_of + datetime.timedelta(days=later)
    assert bands.keys.index(bands.key_of(birthday, later_day)) >= bands.keys.index(bands.key_of(birthday, as_of))
