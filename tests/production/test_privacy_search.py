"""A curious colleague on a live `kehu serve` (issue 11, items 1 and 2): a viewer tries the search oracle and
the caller lookup over HTTP, a sales rep the duplicate probe on the page and the API; the store's audit log
then holds every attempt, hashed, and never the number."""

import json

from .harness import ADMIN_PASSWORD, LiveServer

MOBILE = "13887408022"
PASSWORD = "Curious-colleague-42"
CREATE = """
from kehu.accounts.models import User
from kehu.customers.models import Customer
boss = User.objects.get(username="admin")
User.objects.create_user("vic", password="{password}", role="viewer")
User.objects.create_user("sal", password="{password}", role="sales")
Customer.objects.create(name="刘秀英", code="KH000499", mobile="+86{mobile}", owner=boss, province="广东省")
"""
AUDIT = """
import json
from kehu.accounts.models import AuditEntry
print(json.dumps([[e.username, e.action, e.target_code, e.details] for e in AuditEntry.objects.order_by("id")
                  if e.action in ("search", "lookup", "duplicate")], ensure_ascii=False))
"""


def test_a_viewer_and_a_sales_rep_cannot_unmask_a_number_over_http(ready_store):
    ready_store.shell(CREATE.format(mobile=MOBILE, password=PASSWORD))
    ready_store.env.update({"KEHU_LOOKUPS_PER_HOUR": "4", "KEHU_DUPLICATE_PROBES_PER_HOUR": "2"})
    with LiveServer(ready_store) as server:
        viewer = server.session("vic", PASSWORD)
        # the oracle: guessing the masked digits by searching finds nothing, even the right number
        guesses = [f"138{n:04d}8022" for n in range(8735, 8745)]
        hits = [q for q in guesses if viewer.get("/api/customers", params={"q": q, "limit": 1}).json()["items"]]
        assert hits == []
        assert "刘秀英" not in viewer.get("/customers/", params={"q": MOBILE}).text
        # the caller lookup finds the customer, masked, and stops after the hourly limit
        found = viewer.post("/customers/lookup/", data={"mobile": MOBILE})
        assert found.status_code == 200 and "刘秀英" in found.text and "138****8022" in found.text
        answers = [viewer.post("/api/customers/lookup", json={"mobile": f"1390000{n:04d}"}).status_code
                   for n in range(4)]
        assert answers == [404, 404, 404, 429]

        sales = server.session("sal", PASSWORD)
        page = sales.post("/customers/new/", data={"name": "探测", "kind": "person", "mobile": MOBILE,
                                                   "registered_at": "2024-05-01T10:00"})
        assert "该手机号已属于另一位同事的客户，请联系经理" in page.text
        assert "刘秀英" not in page.text and "KH000499" not in page.text
        api = sales.post("/api/customers", json={"name": "探测", "mobile": MOBILE})
        assert api.status_code == 422 and "刘秀英" not in api.text and "KH000499" not in api.text
        assert api.json().get("duplicate_of") is None
        # past two hits in the hour a taken and a free number get the same refusal
        taken = sales.post("/api/customers", json={"name": "探测", "mobile": MOBILE}).json()
        free = sales.post("/api/customers", json={"name": "探测", "mobile": "13900005555"}).json()
        assert taken == free and "每小时上限" in json.dumps(taken, ensure_ascii=False)
        # the admin still sees whose number it is
        admin = server.session("admin", ADMIN_PASSWORD)
        assert "刘秀英" in admin.get("/customers/", params={"q": MOBILE}).text

    entries = json.loads(ready_store.shell(AUDIT).strip().splitlines()[-1])
    by_action = {}
    for username, action, _code, _details in entries:
        by_action.setdefault((username, action), 0)
        by_action[(username, action)] += 1
    assert by_action[("vic", "search")] == len(guesses) + 1
    assert by_action[("vic", "lookup")] == 5 and by_action[("sal", "duplicate")] == 2
    assert by_action[("admin", "search")] == 1
    assert MOBILE not in json.dumps(entries)
