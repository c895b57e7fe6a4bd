import base64
import json

import pytest
from django.db import connection

from kehu.customers.models import Customer
from kehu.lib.pagination import keyset_page
from kehu.lib.params import BadParameter
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


def cursor_of(*parts) -> str:
    return base64.urlsafe_b64encode(json.dumps(parts).encode()).decode()


@pytest.mark.parametrize("sort, cursor", [
    ("-id", "not-a-cursor"),  # not base64 JSON at all
    ("-id", cursor_of("sideways", 5, 5)),  # no direction this module writes
    ("-id", cursor_of("after", 5, 99999999999999999999999)),  # an id no database column holds
    ("-id", cursor_of("after", 5, "5")),  # an id as text
    ("registered_at", cursor_of("after", "not a date", 3)),
    ("registered_at", cursor_of("after", "2024-01-01T00:00:00", 3)),  # a time without its offset
    pytest.param("registered_at", cursor_of("after", "0001-01-01T00:00:00+08:00", 3),  # overflows on the way to UTC
                 marks=pytest.mark.skipif(connection.vendor == "postgresql", reason="PostgreSQL stores year 1")),
    ("name", cursor_of("after", None, 3)),
])
def test_a_forged_cursor_is_a_bad_parameter_never_a_server_error(twelve, sort, cursor):
    with pytest.raises(BadParameter) as raised:
        keyset_page(Customer.objects.all(), sort, cursor, size=3)
    assert raised.value.name == "cursor"
    assert "翻页位置（cursor）无效" in raised.value.message
