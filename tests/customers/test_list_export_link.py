import io

import pytest
from openpyxl import load_workbook

from tests.conftest import make_customer
from tests.web.helpers import client_for

pytestmark = pytest.mark.django_db


def test_the_list_exports_exactly_the_rows_it_shows(alice, zhang, li):
    make_customer(name="王五", province="浙江省", city="宁波市")
    client = client_for(alice)
    html = client.get("/customers/", {"province": "浙江省"}).content.decode()
    start = html.index('href="/exchange/customers.xlsx?') + len('href="')
    link = html[start:html.index('"', start)].replace("&amp;", "&")
    assert "province=" in link
    response = client.get(link)
    body = b"".join(response.streaming_content) if response.streaming else response.content
    sheet = load_workbook(io.BytesIO(body)).active
    names = {row[1] for row in sheet.iter_rows(min_row=2, values_only=True) if row[1]}
    assert names == {"李娜", "王五"}
