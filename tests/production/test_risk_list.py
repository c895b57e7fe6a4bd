"""The risk list on a live `kehu serve` over the demo shop after `kehu segment`: rows by value at risk, and a
demo sales rep sees only their own customers. The expectation is read from the store in a separate process."""

import json
import re
from decimal import Decimal

from kehu.ops.demo import DEMO_PASSWORD

from .harness import LiveServer

STORED = """
import json
from kehu.segments.models import CustomerSegment
rows = CustomerSegment.objects.filter(value_at_risk__isnull=False).values_list(
    "customer_id", "customer__code", "value_at_risk", "customer__owner__username")
print(json.dumps([[pk, code, str(var), owner] for pk, code, var, owner in rows]))
"""
CODES = re.compile(r'<tr data-code="([^"]+)">')


def test_it_lists_the_demo_shop_by_value_at_risk_and_scopes_a_sales_rep(ready_store):
    ready_store.kehu("demo", "--customers", "150")
    ready_store.kehu("segment")
    stored = json.loads(ready_store.shell(STORED).strip().splitlines()[-1])
    assert len(stored) > 60, "the demo shop should have more buyers than one page"
    # largest value at risk first, equal values by the later customer first (the page's key-set order)
    ordered = sorted(stored, key=lambda row: (Decimal(row[2]), row[0]), reverse=True)

    with LiveServer(ready_store) as server:
        admin = server.session()
        page = admin.get("/segments/risk/")
        assert page.status_code == 200 and "流失风险名单" in page.text
        assert CODES.findall(page.text) == [row[1] for row in ordered[:50]]
        following = re.search(r'rel="next" href="([^"]+)"', page.text).group(1).replace("&amp;", "&")
        assert CODES.findall(admin.get("/segments/risk/" + following).text) == [row[1] for row in ordered[50:100]]

        sales = server.session("sales1", DEMO_PASSWORD)
        own = [row[1] for row in ordered if row[3] == "sales1"]
        assert own and len(own) < len(ordered)
        assert CODES.findall(sales.get("/segments/risk/").text) == own[:50]
        export = sales.get("/segments/risk/export/", params={"format": "csv"})
        assert [line.split(",")[0] for line in export.content.decode("utf-8-sig").splitlines()[1:]] == own
