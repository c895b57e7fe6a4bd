"""The 年龄与性别 page from the stored bands: a few queries, links to the customers only for roles that may
filter by age band, the bands form only for admins and managers, English when chosen."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from kehu.lib.dates import today
from kehu.segments import pipeline
from tests.conftest import make_customer, make_order, page_statements
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db
PAGE = "/segments/analysis/demographics/"


@pytest.fixture
def shop(sam):
    young = make_customer(name="甲", gender="female", birthday=today() - datetime.timedelta(days=365 * 30), owner=sam)
    make_order(young, "120.00")
    make_order(young, "80.00", days_ago=30)
    make_order(make_customer(name="乙", gender="male"), "50.00")
    pipeline.classify_all()


def test_it_shows_the_cells_with_links_for_a_manager_in_a_few_queries(client, mary, shop):
    client.force_login(mary)
    with CaptureQueriesContext(connection) as captured:
        html = client.get(PAGE).content.decode()
    assert len(page_statements(captured)) <= 12
    assert 'href="/customers/?age_band=25-34&amp;gender=female"' in html
    assert "¥100.00" in html          # 甲: ¥200 over 2 orders
    assert 'name="boundaries"' in html and 'value="25, 35, 45, 55"' in html


def test_a_viewer_sees_the_totals_without_links_or_the_bands_form(victor, shop):
    html = client_for(victor).get(PAGE).content.decode()
    assert "各年龄段与性别" in html and "?age_band=" not in html and 'name="boundaries"' not in html
    assert "只能查看汇总" in html


def test_it_speaks_english_when_chosen(alice, shop):
    c = client_for(alice)
    c.post("/i18n/setlang/", {"language": "en", "next": PAGE})
    html = c.get(PAGE).content.decode()
    assert "<h1>Age & gender</h1>" in html and "By age band and gender" in html and "Female" in html


def test_the_recompute_button_brings_stale_bands_up_to_date_like_kehu_segment(mary, shop):
    from kehu.customers.models import Customer

    # a band computed 400 days ago, before a birthday that has come round since
    Customer.objects.filter(name="甲").update(age_band="<25", age_band_on=today() - datetime.timedelta(days=400),
                                             age_band_until=today() - datetime.timedelta(days=30))
    assert client_for(mary).post("/segments/recompute/").status_code == 302
    band, on, until = Customer.objects.values_list("age_band", "age_band_on", "age_band_until").get(name="甲")
    assert (band, on) == ("25-34", today()) and today() < until <= today() + datetime.timedelta(days=366)
