"""The customer list as the merchant's table: chosen columns, sorting by stored figures with key-set pages
(ties by id, customers without a figure last), the total, and who sees what."""

import datetime
import re
from decimal import Decimal

import pytest

from kehu.customers.models import Customer
from kehu.lib.pagination import keyset_page
from kehu.segments.models import CustomerSegment
from tests.conftest import make_customer, make_order
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db

LIST = "/customers/"


def codes_on(html: str) -> list[str]:
    return re.findall(r'<td class="mono"><a href="/customers/([^/]+)/">', html)


def forecast(customer: Customer, p_alive: float | None, clv: str | None = None) -> None:
    CustomerSegment.objects.create(customer=customer, changed_on=datetime.date.today(), p_alive=p_alive,
                                   clv=Decimal(clv) if clv else None, rfm_class="重要价值客户")


@pytest.fixture
def shop(sam):
    """Five buyers (three tied at ¥100) and two customers who never bought, in creation order a…g."""
    spend = {"a": ["100.00"], "b": ["60.00", "40.00"], "c": ["100.00"], "d": ["300.00"], "e": ["50.00"],
             "f": [], "g": []}
    made = {}
    for key, amounts in spend.items():
        made[key] = make_customer(name=f"客户{key}", owner=sam if key in "ab" else None)
        for amount in amounts:
            make_order(made[key], amount)
    return made


def walk(qs, sort: str, size: int = 2) -> list[str]:
    """Every row, page by page forward; then the same pages backward must give the same rows."""
    forward, cursor, pages = [], "", []
    while True:
        page = keyset_page(qs, sort, cursor, size)
        pages.append([c.name for c in page.items])
        forward += pages[-1]
        if not page.has_next:
            break
        cursor = page.next_cursor
    backward, cursor = [], page.prev_cursor
    while cursor:
        page = keyset_page(qs, sort, cursor, size)
        backward = [c.name for c in page.items] + backward
        cursor = page.prev_cursor
    assert backward + pages[-1] == forward
    return forward


def test_it_sorts_by_total_spend_with_ties_by_id_and_non_buyers_last(shop):
    qs = Customer.objects.all()
    names = [f"客户{k}" for k in "dcbaegf"]
    assert walk(qs, "-metrics__monetary") == names
    assert walk(qs, "metrics__monetary") == [f"客户{k}" for k in "eabcdfg"]
    for size in (1, 3, 50):
        assert walk(qs, "-metrics__monetary", size) == names


def test_it_keeps_its_place_when_a_row_changes_between_pages(shop):
    qs = Customer.objects.all()
    first = keyset_page(qs, "-metrics__monetary", "", 2)
    assert [c.name for c in first.items] == ["客户d", "客户c"]
    make_order(shop["d"], "1.00")  # d moves, already shown: the next page starts after c, not again at c
    second = keyset_page(qs, "-metrics__monetary", first.next_cursor, 2)
    assert [c.name for c in second.items] == ["客户b", "客户a"]


def test_it_sorts_the_page_by_churn_probability_most_likely_lost_first(alice, shop):
    forecast(shop["a"], 0.9)
    forecast(shop["b"], 0.2)
    forecast(shop["c"], 0.5)
    forecast(shop["d"], None)
    html = client_for(alice).get(LIST, {"sort": "-churn_probability", "cols": "code,name,churn_probability"}).content
    html = html.decode()
    assert codes_on(html)[:3] == [shop["b"].code, shop["c"].code, shop["a"].code]
    assert ">80.0<" in html and ">10.0<" in html
    # no forecast (d, unfitted; e–g, none): after, by id in the order P(alive) runs (ascending)
    assert codes_on(html)[3:] == [shop[k].code for k in "defg"]


def test_it_shows_the_chosen_columns_in_order(alice, shop):
    html = client_for(alice).get(LIST, {"cols": "name,total_spend,bogus,orders,total_spend",
                                        "sort": "-total_spend"}).content.decode()
    heads = re.findall(r'<th[^>]*data-col="([^"]+)"', html)
    assert heads == ["name", "total_spend", "orders"]
    assert "300.00" in html
    first_row = re.search(r"<tbody>(.*?)</tr>", html, re.S).group(1)
    assert "客户d" in first_row and "300.00" in first_row and ">1<" in first_row


def test_it_offers_the_default_columns_without_a_choice(alice, shop):
    html = client_for(alice).get(LIST).content.decode()
    heads = re.findall(r'<th[^>]*data-col="([^"]+)"', html)
    assert heads[:2] == ["code", "name"] and "total_spend" in heads and "rfm_class" in heads


def test_it_pages_through_a_sorted_list_on_the_page(alice, shop, monkeypatch):
    monkeypatch.setattr("kehu.customers.views.PAGE_SIZE", 3)
    c = client_for(alice)
    seen, url = [], LIST + "?sort=-total_spend&cols=code,total_spend"
    while url:
        html = c.get(url).content.decode()
        seen += codes_on(html)
        found = re.search(r'rel="next" href="([^"]+)"', html)
        url = LIST + found.group(1).replace("&amp;", "&") if found else ""
        assert "cols=code" in (found.group(1) if found else "cols=code")
    assert seen == [shop[k].code for k in "dcbaegf"]


def test_it_sorts_a_sales_reps_own_customers_only(sam, shop):
    html = client_for(sam).get(LIST, {"sort": "-total_spend"}).content.decode()
    assert codes_on(html) == [shop["b"].code, shop["a"].code]
    assert "共 2 位客户" in html


def test_it_shows_an_exact_total_on_a_small_store(alice, shop):
    html = client_for(alice).get(LIST, {"province": "广东省"}).content.decode()
    assert "共 7 位客户" in html and 'data-estimated="0"' in html


def test_it_refuses_a_forged_cursor_on_a_sorted_list(alice, shop):
    r = client_for(alice).get(LIST, {"sort": "-total_spend", "cursor": "bm9wZQ"})
    assert r.status_code == 400


def test_it_falls_back_to_the_default_sort_for_an_unknown_one(alice, shop):
    html = client_for(alice).get(LIST, {"sort": "--total_spend"}).content.decode()
    assert codes_on(html)[0] == shop["g"].code


def test_the_api_sorts_and_shows_the_same_columns(alice, shop):
    from tests.api.conftest import token_client

    client = token_client(alice)
    body = client.get("/api/customers", {"sort": "-total_spend", "cols": "name,total_spend,orders",
                                         "limit": 3}).json()
    assert body["columns"] == ["name", "total_spend", "orders"]
    assert [item["cells"] for item in body["items"]] == [
        {"name": "客户d", "total_spend": "300.00", "orders": 1},
        {"name": "客户c", "total_spend": "100.00", "orders": 1},
        {"name": "客户b", "total_spend": "100.00", "orders": 2},
    ]
    assert body["total"] == 7 and body["total_estimated"] is False
    rest = client.get("/api/customers", {"sort": "-total_spend", "cols": "name", "limit": 10,
                                         "cursor": body["next_cursor"]}).json()
    assert [item["cells"]["name"] for item in rest["items"]] == ["客户a", "客户e", "客户g", "客户f"]


def test_the_list_export_follows_the_chosen_columns_and_sort(victor, shop):
    response = client_for(victor).get("/exchange/customers.csv",
                                      {"cols": "code,mobile,total_spend", "sort": "-total_spend"})
    assert response.status_code == 200, response.content
    lines = b"".join(response.streaming_content).decode("utf-8-sig").splitlines()
    assert lines[0] == "客户编号,手机,消费金额（元）"
    assert [line.split(",")[0] for line in lines[1:]] == [shop[k].code for k in "dcbaegf"]
    assert lines[1].endswith(",300.00")


# ── search by a mobile's last 4 digits ─────────────────────────────────────────────────────────────

@pytest.fixture
def liu(db, mary, sam):
    """Two customers ending in 8022 (a manager's and a sales rep's) and one that does not."""
    return [make_customer(name="刘秀英", mobile="+8613887408022", owner=mary),
            make_customer(name="周杰", mobile="+8613900008022", owner=sam),
            make_customer(name="吴敏", mobile="+8613900001234", owner=mary)]


def test_a_contact_role_finds_customers_by_the_last_4_digits(liu, mary, sue):
    for user in (mary, sue):
        html = client_for(user).get(LIST, {"q": "8022"}).content.decode()
        assert sorted(codes_on(html)) == sorted([liu[0].code, liu[1].code])
    assert liu[0].mobile_last4_hash and liu[0].mobile_last4_hash == liu[1].mobile_last4_hash
    assert "8022" not in liu[0].mobile_last4_hash


def test_the_last_4_digit_search_is_refused_to_roles_without_contact_search(liu, victor, sam):
    from kehu.accounts.models import AuditAction, AuditEntry

    assert codes_on(client_for(victor).get(LIST, {"q": "8022"}).content.decode()) == []
    # a sales rep sees 139****8022 on his own customer, and still learns nothing through the search
    assert codes_on(client_for(sam).get(LIST, {"q": "8022"}).content.decode()) == []
    from tests.api.conftest import token_client

    assert token_client(sam).get("/api/customers", {"q": "8022"}).json()["items"] == []
    entries = AuditEntry.objects.filter(action=AuditAction.SEARCH).order_by("id")
    assert [(e.username, e.details["field"], e.details["masked_role"]) for e in entries] == [
        ("victor", "mobile_last4", True), ("sam", "mobile_last4", True), ("sam", "mobile_last4", True)]
    assert all("8022" not in str(e.details) for e in entries)


def test_the_last_4_hash_follows_edits_and_an_erase(liu, mary):
    from kehu.customers.privacy import erase

    customer = liu[2]
    customer.mobile = "+8613900005555"
    customer.save()
    c = client_for(mary)
    assert codes_on(c.get(LIST, {"q": "5555"}).content.decode()) == [customer.code]
    assert codes_on(c.get(LIST, {"q": "1234"}).content.decode()) == []
    make_order(customer)  # a buyer is anonymised, not deleted
    erase(customer, mary)
    customer.refresh_from_db()
    assert customer.mobile_last4_hash == ""


def test_the_migration_fills_the_last_4_hash_of_stored_mobiles(liu):
    from django.apps import apps as global_apps

    from kehu.customers.migrations import __name__ as package

    migration = __import__(f"{package}.0005_mobile_last4_saved_view", fromlist=["fill_mobile_last4"])
    Customer.objects.update(mobile_last4_hash="")
    migration.fill_mobile_last4(global_apps, None)
    assert {c.name: c.mobile_last4_hash for c in Customer.objects.all()} == {
        c.name: c.mobile_last4_hash for c in liu}


# ── saved views ────────────────────────────────────────────────────────────────────────────────────

def test_a_user_saves_applies_and_deletes_a_view(alice, mary, shop):
    from kehu.customers.models import SavedView

    c = client_for(alice)
    query = "sort=-total_spend&cols=code&cols=total_spend&province=广东省&cursor=abc&junk=1"
    r = c.post("/customers/views/", {"name": "大客户", "query": query})
    view = SavedView.objects.get(user=alice)
    assert view.query == "sort=-total_spend&cols=code&cols=total_spend&province=%E5%B9%BF%E4%B8%9C%E7%9C%81"
    assert r.status_code == 302 and r.url == view.get_absolute_url()
    html = c.get(r.url).content.decode()
    assert 'data-saved-view="大客户"' in html
    assert re.findall(r'<th[^>]*data-col="([^"]+)"', html) == ["code", "total_spend"]
    assert codes_on(html)[0] == shop["d"].code
    # views are one's own: mary neither sees nor deletes alice's
    assert "大客户" not in client_for(mary).get(LIST).content.decode()
    assert client_for(mary).post(f"/customers/views/{view.pk}/delete/").status_code == 404
    assert c.post(f"/customers/views/{view.pk}/delete/").status_code == 302
    assert not SavedView.objects.exists()


def test_a_large_total_is_the_planners_estimate_on_postgresql(alice, shop, monkeypatch):
    from django.db import connection

    from kehu.lib import counting

    monkeypatch.setattr(counting, "EXACT_UP_TO", 3)
    if connection.vendor != "postgresql":
        assert counting.list_total(Customer.objects.all(), whole_table=True) == counting.Total(7)
        return
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE customers_customer")
    whole = counting.list_total(Customer.objects.all(), whole_table=True)
    assert whole.estimated and whole.value == 7  # pg_class.reltuples, exact right after ANALYZE
    filtered = counting.list_total(Customer.objects.filter(province="广东省"), whole_table=False)
    assert filtered.estimated and filtered.value > 3  # EXPLAIN's row estimate
    html = client_for(alice).get(LIST).content.decode()
    assert "共约 ≈7 位客户" in html and 'data-estimated="1"' in html
    assert counting.list_total(Customer.objects.filter(name="客户a")) == counting.Total(1)
