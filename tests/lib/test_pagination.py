import pytest

from kehu.customers.models import Customer
from kehu.lib.pagination import keyset_page
from tests.conftest import make_customer

pytestmark = pytest.mark.django_db


@pytest.fixture
def twelve():
    # Names repeat so that ties on the sort key must be broken by id.
    return [make_customer(name=f"客户{i % 4}") for i in range(12)]


@pytest.mark.parametrize("sort", ["-id", "name", "-name", "registered_at", "code"])
def test_it_walks_every_row_once_forwards_and_back(twelve, sort):
    qs = Customer.objects.all()
    seen, pages, cursor = [], [], ""
    while True:
        page = keyset_page(qs, sort, cursor, size=5)
        pages.append(page)
        seen += [c.pk for c in page.items]
        if not page.has_next:
            break
        cursor = page.next_cursor
    assert sorted(seen) == sorted(c.pk for c in twelve)
    assert len(seen) == len(set(seen)) == 12
    assert [len(p.items) for p in pages] == [5, 5, 2]
    assert not pages[0].has_prev
    back = keyset_page(qs, sort, pages[2].prev_cursor, size=5)
    assert [c.pk for c in back.items] == [c.pk for c in pages[1].items]


def test_a_mangled_cursor_gives_the_first_page(twelve):
    page = keyset_page(Customer.objects.all(), "-id", "not-a-cursor", size=3)
    assert [c.pk for c in page.items] == sorted((c.pk for c in twelve), reverse=True)[:3]
