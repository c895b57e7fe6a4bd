"""Each role's home and the settings pages on a live `kehu serve` (one store and one server for the module):
an admin creates a user who then logs in, deactivates, resets, unlocks them on the page; the manager's and
service's homes list what the test put in the store (expectations from the test's own plan, not the app); every
settings address refuses sales, service and viewer; Chromium opens the manager home and the settings hub."""

import json
import re

import pytest
import requests

from .harness import ADMIN_PASSWORD, LiveServer, log_in

PASSWORD = "Team-member-2026"
# days from today of each birthday, and whether it is in "this week" (today … today + 6)
BIRTHDAY_OFFSETS = {0: True, 2: True, 6: True, 7: False, -1: False, 40: False}
VALUES_AT_RISK = ["1200.00", "80.00", "5300.50", "640.00", "2500.00", "3100.00", "15.00"]
# (assignee, days overdue): open follow-ups past their date
OVERDUE = [("sam", 3), ("sam", 1), ("sue", 5), ("sam", 8)]
# (lowest score, days ago, answered by a communication since): low ratings are ≤ 2 within 30 days
FEEDBACK = [(1, 1, False), (2, 4, False), (1, 2, True), (5, 1, False), (1, 45, False)]

SETUP = """
import datetime, json
from decimal import Decimal
from django.utils import timezone
from kehu.accounts.models import User
from kehu.customers.models import Customer
from kehu.engagement.models import Communication, Feedback, FeedbackDimension, FeedbackRating, FollowUp
from kehu.exchange.models import ImportBatch
from kehu.sales.models import Order
from kehu.segments.models import CustomerSegment

PLAN = json.loads('''%s''')
out = {"users": {}}
for name, role in (("mary", "manager"), ("sam", "sales"), ("sue", "service"), ("victor", "viewer")):
    out["users"][name] = User.objects.create_user(name, password=PLAN["password"], role=role).pk
users = {u.username: u for u in User.objects.all()}
today, now = timezone.localdate(), timezone.now()
out["birthdays"] = {}
for offset in PLAN["birthdays"]:
    day = today + datetime.timedelta(days=int(offset))
    born = datetime.date(1992, 2, 29) if (day.month, day.day) == (2, 29) else day.replace(year=1988)
    out["birthdays"][offset] = Customer.objects.create(name=f"生日{offset}", birthday=born).code
out["risk"] = []
for i, value in enumerate(PLAN["risk"]):
    c = Customer.objects.create(name=f"风险{i}", owner=users["sam"])
    CustomerSegment.objects.create(customer=c, changed_on=today, p_alive=0.3, value_at_risk=Decimal(value),
                                   clv=Decimal(value))
    out["risk"].append(c.code)
out["overdue"] = []
for who, days in PLAN["overdue"]:
    c = Customer.objects.create(name=f"逾期{who}{days}", owner=users["sam"])
    out["overdue"].append(FollowUp.objects.create(customer=c, title=f"回访{days}", assignee=users[who],
                          due=today - datetime.timedelta(days=days)).pk)
noon = timezone.make_aware(datetime.datetime.combine(today - datetime.timedelta(days=1), datetime.time(12)))
out["new"] = [Customer.objects.create(name=f"新客{i}", registered_at=noon + datetime.timedelta(minutes=i)).code
              for i in range(3)]
old = Customer.objects.create(name="老客", registered_at=now - datetime.timedelta(days=400))
for amount in PLAN["orders"]:
    Order.objects.create(customer=old, amount=Decimal(amount), ordered_at=noon)
Order.objects.create(customer=old, amount=Decimal("777"), ordered_at=now)
out["imports"] = {"rejected": ImportBatch.objects.create(file_name="客户.xlsx", status="done",
                                                         counts={"customers": {"new": 4, "rejected": 2}}).pk,
                  "stopped": ImportBatch.objects.create(file_name="订单.csv", status="incomplete").pk,
                  "fine": ImportBatch.objects.create(file_name="好.xlsx", status="done",
                                                     counts={"customers": {"new": 9}}).pk}
dim = FeedbackDimension.objects.get_or_create(name="服务态度")[0]
out["feedback"] = []
for score, days, answered in PLAN["feedback"]:
    c = Customer.objects.create(name=f"评价{score}-{days}")
    fb = Feedback.objects.create(customer=c, received_at=now - datetime.timedelta(days=days))
    FeedbackRating.objects.create(feedback=fb, dimension=dim, score=score)
    if answered:
        Communication.objects.create(customer=c, method="phone", content="已致歉")
    out["feedback"].append(fb.pk)
print(json.dumps(out))
"""
PLAN = {"password": PASSWORD, "birthdays": list(BIRTHDAY_OFFSETS), "risk": VALUES_AT_RISK, "overdue": OVERDUE,
        "orders": ["199.00", "88.50"], "feedback": FEEDBACK}


@pytest.fixture(scope="module")
def live(initialised_template, tmp_path_factory):
    store = initialised_template.clone(tmp_path_factory.mktemp("homes"))
    made = json.loads(store.shell(SETUP % json.dumps(PLAN, ensure_ascii=False)).strip().splitlines()[-1])
    server = LiveServer(store).start()
    yield server, made
    server.stop()
    store.drop()


def _login_status(server, username: str, password: str) -> int:
    session = requests.Session()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"',
                      session.get(server.url + "/accounts/login/").text).group(1)
    return session.post(server.url + "/accounts/login/", allow_redirects=False, timeout=60, data={
        "username": username, "password": password, "csrfmiddlewaretoken": token}).status_code


def _rows(html: str, kind: str, attr: str) -> list[str]:
    return re.findall(rf'data-priority="{kind}" {attr}="([^"]*)"', html)


def test_an_admin_creates_deactivates_resets_and_unlocks_a_user_who_then_logs_in(live):
    server, _made = live
    admin = server.session("admin", ADMIN_PASSWORD)
    form = {"username": "liuyang", "last_name": "刘", "first_name": "洋", "email": "", "role": "sales",
            "password1": "Tea-garden-2026", "password2": "Tea-garden-2026"}
    made = admin.post("/settings/users/new/", data=form, allow_redirects=False)
    assert made.status_code == 302
    page = made.headers["Location"]
    assert re.fullmatch(r"/settings/users/\d+/", page)
    assert _login_status(server, "liuyang", "Tea-garden-2026") == 302
    again = admin.post("/settings/users/new/", data=form)  # the second time: the name is taken
    assert again.status_code == 200 and "这个用户名已被使用" in again.text

    own = log_in(server.url, "liuyang", "Tea-garden-2026")
    assert admin.post(page + "active/", data={"active": "0"}, allow_redirects=False).status_code == 302
    assert _login_status(server, "liuyang", "Tea-garden-2026") == 200  # the form again: refused
    assert own.get("/", allow_redirects=False).status_code == 302  # the open session ended too
    admin.post(page + "active/", data={"active": "1"})
    assert _login_status(server, "liuyang", "Tea-garden-2026") == 302

    reset = admin.post(page + "password/", data={"new_password1": "Fresh-start-2027",
                                                 "new_password2": "Fresh-start-2027"}, allow_redirects=False)
    assert reset.status_code == 302
    assert _login_status(server, "liuyang", "Tea-garden-2026") == 200
    assert _login_status(server, "liuyang", "Fresh-start-2027") == 302

    # five failures (KEHU_LOGIN_FAILURE_LIMIT; the good login before cleared the earlier ones) lock the name here
    assert [_login_status(server, "liuyang", "wrong-guess") for _ in range(5)] == [200] * 4 + [429]
    assert _login_status(server, "liuyang", "Fresh-start-2027") == 429
    assert 'data-failures="5"' in admin.get(page).text
    assert admin.post(page + "unlock/", allow_redirects=False).status_code == 302
    assert _login_status(server, "liuyang", "Fresh-start-2027") == 302

    audited = json.loads(server.store.shell(
        "import json; from kehu.accounts.models import AuditEntry; print(json.dumps(list(AuditEntry.objects"
        ".filter(target_type='user', username='admin').order_by('id').values_list('action', 'details'))))"
    ).strip().splitlines()[-1])
    assert [(a, sorted(d)) for a, d in audited] == [
        ("create", ["is_active", "role"]), ("update", ["changes"]), ("update", ["changes"]),
        ("update", ["password"]), ("update", ["unlocked"])]


def test_the_manager_home_lists_todays_priorities(live):
    server, made = live
    html = server.session("mary", PASSWORD).get("/").text
    expected_risk = [made["risk"][i] for i in sorted(range(len(VALUES_AT_RISK)),
                                                     key=lambda i: float(VALUES_AT_RISK[i]), reverse=True)[:5]]
    assert _rows(html, "at-risk", "data-code") == expected_risk
    this_week = sorted((int(o) for o, inside in BIRTHDAY_OFFSETS.items() if inside))
    assert _rows(html, "birthday", "data-code") == [made["birthdays"][str(o)] for o in this_week]
    per_rep = {}
    for who, _days in OVERDUE:
        per_rep[who] = per_rep.get(who, 0) + 1
    assert _rows(html, "rep", "data-rep") == sorted(per_rep, key=lambda who: -per_rep[who])
    oldest_first = [pk for _, pk in sorted(zip((d for _, d in OVERDUE), made["overdue"], strict=True),
                                           reverse=True)]
    assert _rows(html, "overdue", "data-follow-up") == [str(pk) for pk in oldest_first]
    assert _rows(html, "new", "data-code") == list(reversed(made["new"]))
    assert 'data-figure="revenue-yesterday">¥287.50<' in html
    imports = made["imports"]
    assert _rows(html, "import", "data-batch") == [str(imports["stopped"]), str(imports["rejected"])]
    assert f'href="/exchange/import/{imports["rejected"]}/"' in html


def test_service_sees_the_low_ratings_nobody_answered_and_sales_keep_their_home(live):
    server, made = live
    html = server.session("sue", PASSWORD).get("/").text
    waiting = [(score, days, pk) for (score, days, answered), pk in zip(FEEDBACK, made["feedback"], strict=True)
               if score <= 2 and days <= 30 and not answered]
    # lowest score first, then the older one
    assert _rows(html, "feedback", "data-feedback") == [str(pk) for _, _, pk in sorted(
        waiting, key=lambda row: (row[0], -row[1]))]
    for name in ("sam", "victor"):
        own = server.session(name, PASSWORD).get("/").text
        assert "今日重点" not in own and 'data-priority="' not in own and "今天要跟进" in own


def test_every_settings_address_refuses_sales_service_and_viewer(live):
    server, made = live
    mary = made["users"]["mary"]
    addresses = ["/settings/", "/settings/users/", "/settings/users/new/", f"/settings/users/{mary}/",
                 f"/settings/users/{mary}/password/", f"/settings/users/{mary}/active/",
                 f"/settings/users/{mary}/unlock/", f"/settings/users/{mary}/tokens/1/revoke/",
                 "/settings/system/backups/", "/settings/system/backups/new/", "/settings/system/backups/verify/",
                 "/settings/system/mail/", "/segments/settings/", "/settings/tags/", "/settings/tags/1/",
                 "/settings/tags/1/delete/", "/settings/custom-fields/", "/settings/feedback-dimensions/",
                 "/settings/playbooks/", "/settings/follow-up-rules/", "/_admin/"]
    for name in ("sam", "sue", "victor"):
        session = server.session(name, PASSWORD)
        for address in addresses:
            got = session.get(address, allow_redirects=False).status_code
            assert got == 403 or (address == "/_admin/" and got == 302), (name, address, got)
            posted = session.post(address, data={"name": "x", "active": "0"}, allow_redirects=False).status_code
            assert posted == 403 or (address == "/_admin/" and posted == 302), (name, address, posted)
    admin = server.session("admin", ADMIN_PASSWORD)
    assert all(admin.get(address).status_code == 200 for address in [*addresses[:4], "/settings/system/mail/"])


def test_backups_are_made_and_verified_on_the_page(live):
    server, _made = live
    admin = server.session("admin", ADMIN_PASSWORD)
    made = admin.post("/settings/system/backups/new/")
    names = re.findall(r'data-backup="([^"]+)"', made.text)
    assert len(names) == 1 and "已备份到" in made.text
    assert (server.store.home / "backups" / names[0]).exists()
    verified = admin.post("/settings/system/backups/verify/", data={"name": names[0]})
    assert "完好" in verified.text
    assert "没有这份备份" in admin.post("/settings/system/backups/verify/", data={"name": "../kehu.sqlite3"}).text
    assert "restore" not in " ".join(re.findall(r'action="([^"]+)"', verified.text))


def test_chromium_opens_the_manager_home_and_the_settings_hub(live, browser):
    server, made = live
    context = browser.new_context(base_url=server.url, locale="zh-CN", viewport={"width": 1366, "height": 900})
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", "mary")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)
    assert page.locator("h2.section-title").inner_text() == "今日重点"
    top = page.locator('[data-priority="at-risk"] a').first
    top.click()
    page.wait_for_url(f"**/customers/{made['risk'][2]}/")
    page.locator(".usermenu summary").click()
    page.get_by_role("link", name="系统设置").click()
    page.wait_for_url("**/settings/")
    assert page.locator(".settings-hub [data-settings]").count() == 4  # thresholds, tags, playbooks, rules
    page.locator('.settings-hub [data-settings="tags"]').click()
    page.wait_for_url("**/settings/tags/")
    page.fill("input[name=name]", "回头客")
    page.click("form.form-card button[type=submit]")
    page.wait_for_url("**/settings/tags/")
    assert page.locator("table.data tbody td").first.inner_text() == "回头客"
    context.close()
