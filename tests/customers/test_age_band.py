"""The stored age band (Customer.age_band) follows the birthday everywhere a birthday is written: the edit form's
save, an import (new and updated customers), a merge that fills the birthday in, a PIPL erase, edited boundaries and
the days passing (refresh_age_bands) — so no page needs to decrypt a birthday to know a band."""

import datetime

import pytest
from django.db import connection

from kehu.customers import privacy
from kehu.customers.filters import CustomerFilter
from kehu.customers.merge import merge_customers
from kehu.customers.models import Customer, refresh_age_bands
from kehu.exchange.importer import import_file
from kehu.lib.ages import AgeBands
from kehu.lib.dates import today
from kehu.lib.params import BadParameter
from kehu.segments.models import SegmentSettings
from tests.conftest import make_customer, make_order
from tests.exchange.helpers import write_xlsx

pytestmark = pytest.mark.django_db


def years_ago(years: int, days: int = 0) -> datetime.date:
    """A birthday `years` years and `days` days ago (days=-1: the birthday is tomorrow)."""
    on = today()
    if (on.month, on.day) == (2, 29):
        on -= datetime.timedelta(days=1)
    return on.replace(year=on.year - years) - datetime.timedelta(days=days)


def stored_bands() -> dict[str, str]:
    return dict(Customer.objects.values_list("name", "age_band"))


def test_it_keeps_the_band_on_save_and_only_the_band_is_stored_in_the_clear():
    customer = make_customer(name="甲", birthday=years_ago(30))
    assert (customer.age_band, customer.age_band_on) == ("25-34", today())
    customer.birthday = years_ago(25, days=-1)  # 25 tomorrow
    customer.save(update_fields=["birthday"])
    customer.refresh_from_db()
    assert customer.age_band == "<25"
    customer.birthday = None
    customer.save()
    assert stored_bands() == {"甲": ""}
    with connection.cursor() as cur:
        cur.execute("SELECT birthday, age_band FROM customers_customer")
        assert cur.fetchall() == [(None, "")]


def test_it_refreshes_bands_as_the_days_pass_and_when_the_boundaries_change(alice):
    make_customer(name="甲", birthday=years_ago(35, days=-1))   # 34, 35 tomorrow
    make_customer(name="乙", birthday=years_ago(60))
    make_customer(name="丙")
    assert stored_bands() == {"甲": "25-34", "乙": "55+", "丙": ""}
    assert refresh_age_bands() == 0
    assert refresh_age_bands(as_of=today() + datetime.timedelta(days=1)) == 1
    assert stored_bands() == {"甲": "35-44", "乙": "55+", "丙": ""}
    assert SegmentSettings.store_age_bands(AgeBands((18, 40)), alice) == 2
    assert stored_bands() == {"甲": "18-39", "乙": "40+", "丙": ""}
    assert make_customer(name="丁", birthday=years_ago(39)).age_band == "18-39"   # new customers too
    SegmentSettings.store_age_bands(AgeBands(), alice)
    assert stored_bands() == {"甲": "25-34", "乙": "55+", "丙": "", "丁": "35-44"}


def test_an_import_stores_the_band_of_new_and_updated_customers(tmp_path):
    make_customer(name="老客户", code="C1")
    path = write_xlsx(tmp_path / "客户.xlsx", {"客户": [
        ["客户编号", "姓名", "生日"], ["C1", "老客户", years_ago(40).isoformat()],
        ["C2", "新客户", years_ago(20).isoformat()], ["C3", "无生日", ""]]})
    import_file(path)
    assert stored_bands() == {"老客户": "35-44", "新客户": "<25", "无生日": ""}


def test_a_merge_that_fills_the_birthday_in_fills_the_band_and_an_erase_empties_it():
    kept = make_customer(name="张伟", mobile="+8613812345678")
    other = make_customer(name="张伟", wechat="zw_old", birthday=years_ago(50))
    merge_customers(kept, other)
    kept.refresh_from_db()
    assert kept.age_band == "45-54"
    make_order(kept, "88.00")        # an erase keeps a customer with orders as a stub
    privacy.erase(kept)
    kept.refresh_from_db()
    assert (kept.birthday, kept.age_band, kept.age_band_on) == (None, "", None)


def test_the_filter_refuses_an_age_band_to_a_role_that_sees_birthdays_masked(sam, victor, mary, sue):
    make_customer(name="甲", birthday=years_ago(30), gender="female", owner=sam)
    make_customer(name="乙", gender="male", owner=sam)
    for user in (sam, victor):
        with pytest.raises(BadParameter) as refused:
            CustomerFilter.from_params({"age_band": "25-34"}).apply(Customer.objects.visible_to(user), user)
        assert refused.value.name == "age_band"
        female = CustomerFilter.from_params({"gender": "female"}).apply(Customer.objects.visible_to(user), user)
        assert [c.name for c in female] == ["甲"]
    for user in (mary, sue):
        flt = CustomerFilter.from_params({"age_band": "unknown", "gender": "male"})
        assert [c.name for c in flt.apply(Customer.objects.all(), user)] == ["乙"]
        assert flt.describe() == "性别：男 · 年龄段：未知"


def test_the_export_command_refuses_an_age_band_to_a_masked_user_and_not_to_the_operator(tmp_path, victor):
    from django.core.management import CommandError, call_command

    make_customer(name="甲", birthday=years_ago(30))
    out = tmp_path / "c.csv"
    with pytest.raises(CommandError, match="按年龄段筛选客户需要查看完整生日的权限"):
        call_command("export", "customers", "-o", str(out), "--user", "victor", "--filter", "age_band=25-34")
    assert not out.exists()
    call_command("export", "customers", "-o", str(out), "--filter", "age_band=25-34")
    assert "甲" in out.read_text(encoding="utf-8-sig")


def test_next_birthday_is_the_first_day_a_year_older_29_february_included():
    from kehu.lib.ages import age_on, next_birthday

    assert next_birthday(datetime.date(1990, 6, 15), datetime.date(2026, 6, 14)) == datetime.date(2026, 6, 15)
    assert next_birthday(datetime.date(1990, 6, 15), datetime.date(2026, 6, 15)) == datetime.date(2027, 6, 15)
    assert next_birthday(datetime.date(2000, 2, 29), datetime.date(2025, 2, 28)) == datetime.date(2025, 3, 1)
    assert next_birthday(datetime.date(2000, 2, 29), datetime.date(2027, 12, 31)) == datetime.date(2028, 2, 29)
    # the age on every day from `after` to the day before is the same, and one more on the day itself
    for born in (datetime.date(1990, 6, 15), datetime.date(2000, 2, 29), datetime.date(1985, 12, 31),
                 datetime.date(1970, 1, 1), datetime.date(1996, 3, 1)):
        after = datetime.date(2026, 1, 1)
        while after < datetime.date(2029, 1, 1):
            day = next_birthday(born, after)
            ages = {age_on(born, after + datetime.timedelta(days=k)) for k in range((day - after).days)}
            assert ages == {age_on(born, after)} and age_on(born, day) == age_on(born, after) + 1, (born, after)
            after += datetime.timedelta(days=17)


def test_a_band_holds_until_the_next_birthday_and_only_those_whose_birthday_came_round_are_read_again():
    tomorrow = today() + datetime.timedelta(days=1)
    make_customer(name="甲", birthday=years_ago(35, days=-1))   # 34, 35 tomorrow
    make_customer(name="乙", birthday=datetime.date(1966, 8, 20))
    make_customer(name="丙")
    until = dict(Customer.objects.values_list("name", "age_band_until"))
    assert until["甲"] == tomorrow and until["丙"] is None
    this_year = datetime.date(today().year, 8, 20)
    assert until["乙"] == (this_year if this_year > today() else datetime.date(today().year + 1, 8, 20))
    # a band stored wrong while its birthday is still to come is left as it is: nothing says it changed
    Customer.objects.filter(name="乙").update(age_band="<25")
    assert refresh_age_bands() == 0 and stored_bands()["乙"] == "<25"
    assert refresh_age_bands(as_of=tomorrow) == 1
    rows = {name: (band, on, until) for name, band, on, until in Customer.objects.values_list(
        "name", "age_band", "age_band_on", "age_band_until")}
    assert rows["甲"] == ("35-44", tomorrow, next_year(tomorrow))
    assert rows["乙"][:2] == ("<25", today())   # not read again: its birthday has not come round
    assert rows["丙"] == ("", None, None)
    # edited boundaries read every birthday again
    Customer.objects.filter(name="乙").update(age_band="55+")
    assert refresh_age_bands(AgeBands((18, 40)), as_of=tomorrow) == 2
    assert stored_bands() == {"甲": "18-39", "乙": "40+", "丙": ""}


def next_year(day: datetime.date) -> datetime.date:
    try:
        return day.replace(year=day.year + 1)
    except ValueError:   # 29 February
        return datetime.date(day.year + 1, 3, 1)


def test_the_migration_gives_every_stored_band_its_next_birthday_without_decrypting():
    from django.apps import apps

    from kehu.lib.ages import next_birthday

    migration = __import__("kehu.customers.migrations.0007_age_band_until", fromlist=["fill_until"])
    make_customer(name="甲", birthday=datetime.date(1990, 6, 15))
    make_customer(name="乙", birthday=datetime.date(2000, 2, 29))
    make_customer(name="丙")
    Customer.objects.filter(name="甲").update(age_band_on=datetime.date(2026, 6, 14), age_band_until=None)
    Customer.objects.filter(name="乙").update(age_band_on=datetime.date(2027, 3, 1), age_band_until=None)
    migration.fill_until(apps, None)
    until = dict(Customer.objects.values_list("name", "age_band_until"))
    assert until == {"甲": datetime.date(2026, 6, 15), "乙": datetime.date(2028, 2, 29), "丙": None}
    assert until["乙"] == next_birthday(datetime.date(2000, 2, 29), datetime.date(2027, 3, 1))
