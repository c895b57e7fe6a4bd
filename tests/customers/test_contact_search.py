"""Contact search without an oracle, and duplicate warnings without disclosure (issue 11, items 1 and 2).

A role that sees contacts masked cannot find a customer by a full mobile, e-mail or WeChat ID in the list,
the API, the exports or a target list; it may look one caller up on 来电查询, rate-limited per hour. A sales
rep whose new customer duplicates a colleague's learns that the number is taken, not whose it is. Every such
search, lookup and hit is audited with the value as a keyed hash, never in plaintext.
"""

import json

import pytest
from django.db.models import Q
from django.test import Client
from django.urls import reverse

from kehu.accounts.models import AuditAction, AuditEntry
from kehu.customers.models import Customer
from kehu.exchange.importer import import_file
from kehu.marketing.models import TargetList
from kehu.marketing.targets import members
from tests.api.conftest import token_client
from tests.conftest import make_customer, make_user
from tests.exchange.helpers import write_xlsx

MOBILE = "+8613887408022"
TYPED = "13887408022"
HIDDEN = "该手机号已属于另一位同事的客户，请联系经理"


@pytest.fixture
def liu(db, mary):
    """A manager's customer: the one a curious colleague tries to unmask."""
    return make_customer(name="刘秀英", code="KH000499", mobile=MOBILE, email="liuxy@example.com",
                         wechat="liuxy_88", owner=mary)


def _web(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _no_plaintext_in_audit(*values: str) -> None:
    for entry in AuditEntry.objects.all():
        text = json.dumps(entry.details, ensure_ascii=False) + entry.target_label + entry.codes
        for value in values:
            assert value not in text, f"{value} in plaintext in audit entry {entry.action}: {text}"


# ── item 1: the ordinary search does not match contact values for masked roles ──────────────────

def test_it_never_finds_a_customer_by_full_mobile_for_a_masked_role_on_any_channel(liu, victor, sam, tmp_path,
                                                                                   settings):
    settings.KEHU_HOME = tmp_path
    liu.owner = sam  # even the rep's own customer: sam sees its mobile masked
    liu.save()
    for user in (victor, sam):
        web = _web(user)
        assert "刘秀英" not in web.get("/customers/", {"q": TYPED}).content.decode()
        assert token_client(user).get("/api/customers", {"q": TYPED}).json()["items"] == []
        csv = b"".join(web.get("/exchange/customers.csv", {"q": TYPED}).streaming_content).decode("utf-8-sig")
        assert "刘秀英" not in csv
        for q in ("liuxy@example.com", "liuxy_88", "138 8740 8022"):
            assert "刘秀英" not in web.get("/customers/", {"q": q}).content.decode(), q
        tl = TargetList.objects.create(name="一个号码", filter_query=f"q={TYPED}", channel="sms")
        assert not members(tl, user).exists()
    # by name the customer is found as before: only the contact match is gone
    assert "刘秀英" in _web(victor).get("/customers/", {"q": "刘秀"}).content.decode()


def test_it_still_finds_the_customer_by_full_contact_values_for_roles_that_see_them(liu, mary, sue):
    for user in (mary, sue):
        for q in (TYPED, "+86 138 8740 8022", "LiuXY@example.com", "liuxy_88"):
            assert "刘秀英" in _web(user).get("/customers/", {"q": q}).content.decode(), (user, q)


def test_it_audits_every_contact_search_by_any_role_with_a_keyed_hash_only(liu, mary, victor, sam):
    searches = [(mary, TYPED), (mary, "138-8740-8022"), (victor, TYPED), (sam, "+8613887408022"),
                (victor, "liuxy@example.com"), (mary, "other_wx1")]
    for user, q in searches:
        _web(user).get("/customers/", {"q": q})
    token_client(victor).get("/api/customers", {"q": TYPED})
    _web(victor).get("/customers/", {"q": "刘秀"})  # a name is not a contact search
    entries = list(AuditEntry.objects.filter(action=AuditAction.SEARCH).order_by("id"))
    assert [e.username for e in entries] == ["mary", "mary", "victor", "sam", "victor", "mary", "victor"]
    hashes = [e.details["value_hash"] for e in entries]
    # the same number however typed gives one hash; another value another
    assert hashes[0] == hashes[1] == hashes[2] == hashes[3] == hashes[6]
    assert len({hashes[0], hashes[4], hashes[5]}) == 3 and all(len(h) == 40 for h in hashes)
    assert hashes[0] != liu.mobile_hash  # not the search column's hash: the log cannot be joined to it
    assert [e.details["masked_role"] for e in entries] == [False, False, True, True, True, False, True]
    _no_plaintext_in_audit(TYPED, "liuxy@example.com", "other_wx1")


def test_the_export_audit_keeps_the_search_masked(liu, mary):
    web = _web(mary)
    b"".join(web.get("/exchange/customers.csv", {"q": TYPED, "province": "广东省"}).streaming_content)
    entry = AuditEntry.objects.get(action=AuditAction.EXPORT)
    assert entry.details["filter"] == "q=138%2A%2A%2A%2A8022&province=%E5%B9%BF%E4%B8%9C%E7%9C%81"
    assert entry.details["search_hash"] == AuditEntry.objects.get(action=AuditAction.SEARCH).details["value_hash"]
    _no_plaintext_in_audit(TYPED)


# ── item 1: 来电查询 ────────────────────────────────────────────────────────────────────────────

def test_caller_lookup_finds_a_customer_the_user_may_see(liu, victor):
    page = _web(victor).post(reverse("customers:lookup"), {"mobile": "138 8740 8022"})
    text = page.content.decode()
    assert page.status_code == 200 and "刘秀英" in text and "KH000499" in text
    assert "138****8022" in text and TYPED not in text  # still masked for the viewer
    entry = AuditEntry.objects.get(action=AuditAction.LOOKUP)
    assert entry.username == "victor" and entry.target_code == "KH000499" and entry.details["found"] is True
    _no_plaintext_in_audit(TYPED)


def test_caller_lookup_answers_a_colleagues_customer_exactly_like_an_unknown_number(liu, sam):
    web = _web(sam)

    def result(mobile: str) -> str:
        text = web.post(reverse("customers:lookup"), {"mobile": mobile}).content.decode()
        return text[text.index('id="lookup-result"'):]

    assert result(TYPED) == result("13900001111")
    assert "刘秀英" not in result(TYPED) and "KH000499" not in result(TYPED)


def test_caller_lookup_is_limited_per_user_per_hour_and_each_attempt_is_audited(liu, victor, sam, settings):
    settings.KEHU_LOOKUPS_PER_HOUR = 3
    web = _web(victor)
    statuses = [web.post(reverse("customers:lookup"), {"mobile": f"1390000{n:04d}"}).status_code for n in range(3)]
    refused = web.post(reverse("customers:lookup"), {"mobile": TYPED})
    assert statuses == [200, 200, 200] and refused.status_code == 429
    assert "每小时最多 3 次" in refused.content.decode() and "刘秀英" not in refused.content.decode()
    api = token_client(victor).post("/api/customers/lookup", {"mobile": TYPED}, content_type="application/json")
    assert api.status_code == 429
    entries = AuditEntry.objects.filter(action=AuditAction.LOOKUP, username="victor")
    assert entries.count() == 5 and entries.filter(Q(details__refused=True)).count() == 2
    # another user has an hour of their own
    assert _web(sam).post(reverse("customers:lookup"), {"mobile": TYPED}).status_code == 200


def test_the_api_caller_lookup_returns_the_customer_masked_or_404(liu, victor, sam):
    found = token_client(victor).post("/api/customers/lookup", {"mobile": TYPED}, content_type="application/json")
    assert found.status_code == 200 and found.json()["code"] == "KH000499"
    assert found.json()["mobile"] == "138****8022"
    hidden = token_client(sam).post("/api/customers/lookup", {"mobile": TYPED}, content_type="application/json")
    unknown = token_client(sam).post("/api/customers/lookup", {"mobile": "13900001111"},
                                     content_type="application/json")
    assert hidden.status_code == unknown.status_code == 404 and hidden.json() == unknown.json()
    bad = token_client(sam).post("/api/customers/lookup", {"mobile": "12345"}, content_type="application/json")
    assert bad.status_code == 422


# ── item 2: duplicates without disclosure ─────────────────────────────────────────────────────────

def _new_customer_form(mobile: str) -> dict:
    return {"name": "新客户", "kind": "person", "mobile": mobile, "registered_at": "2024-05-01T10:00"}


def test_a_sales_rep_creating_a_colleagues_mobile_learns_it_is_taken_but_not_whose(liu, sam):
    page = _web(sam).post(reverse("customers:create"), _new_customer_form(TYPED))
    text = page.content.decode()
    assert page.status_code == 200 and HIDDEN in text
    assert "刘秀英" not in text and "KH000499" not in text
    assert Customer.objects.count() == 1
    entry = AuditEntry.objects.get(action=AuditAction.DUPLICATE)
    assert entry.username == "sam" and entry.target_code == "KH000499" and entry.details["field"] == "mobile"
    _no_plaintext_in_audit(TYPED)


def test_the_api_duplicate_answer_names_no_colleagues_customer(liu, sam):
    answer = token_client(sam).post("/api/customers", {"name": "x", "mobile": TYPED},
                                    content_type="application/json")
    body = answer.content.decode()
    assert answer.status_code == 422 and answer.json()["errors"]["mobile"] == [HIDDEN]
    assert answer.json().get("duplicate_of") is None
    assert "刘秀英" not in body and "KH000499" not in body


def test_a_manager_still_sees_which_customer_a_duplicate_is(liu, mary):
    answer = token_client(mary).post("/api/customers", {"name": "x", "mobile": TYPED},
                                     content_type="application/json")
    assert answer.json()["duplicate_of"] == "KH000499" and "刘秀英" in answer.content.decode()


def test_an_import_dry_run_reports_taken_numbers_without_names_and_stays_audited(liu, sam, tmp_path, settings):
    settings.KEHU_HOME = tmp_path
    path = write_xlsx(tmp_path / "probe.xlsx", {"客户": [
        ["姓名", "手机"], ["甲", TYPED], ["乙", "13900001111"], ["丙", "13900002222"]]})
    result = import_file(path, user=sam, dry_run=True)
    text = result.summary() + "\n".join(str(p) for p in result.problems)
    assert "刘秀英" not in text and "KH000499" not in text
    assert [p.message for p in result.problems if p.row == 2] == [HIDDEN + "（该项未导入）"]
    assert Customer.objects.count() == 1  # a dry run created nothing ...
    assert AuditEntry.objects.filter(action=AuditAction.DUPLICATE, username="sam").count() == 1  # ... but is audited


def test_duplicate_hits_on_colleagues_customers_are_limited_per_hour(liu, sam, mary, settings):
    settings.KEHU_DUPLICATE_PROBES_PER_HOUR = 2
    other = make_customer(name="钱多", mobile="+8613900003333", owner=mary)
    web = _web(sam)
    for mobile in (TYPED, "13900003333"):
        assert HIDDEN in web.post(reverse("customers:create"), _new_customer_form(mobile)).content.decode()
    # past the limit a taken and a free number get the same answer, and nothing is saved
    taken = web.post(reverse("customers:create"), _new_customer_form(TYPED)).content.decode()
    free = web.post(reverse("customers:create"), _new_customer_form("13900004444")).content.decode()
    assert "查重提示已达每小时上限（2 次）" in taken and "查重提示已达每小时上限（2 次）" in free
    assert HIDDEN not in taken + free and other.name not in taken
    assert Customer.objects.count() == 2
    # a customer without contact values can still be created
    assert web.post(reverse("customers:create"), {**_new_customer_form(""), "name": "无电话"}).status_code == 302
    # the limit is the sales rep's own: a manager is not limited
    mary_user = make_user("mary2", "manager")
    assert "刘秀英" in _web(mary_user).post(reverse("customers:create"), _new_customer_form(TYPED)).content.decode()
