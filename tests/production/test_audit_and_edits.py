"""Small things users notice: an edit keeps the seconds of a stored time; the audit log speaks in labels and
names the way a change came in (网页 / API / 命令行), also for an import started on the web."""

import html
import re
from datetime import datetime

import pytest

from .harness import follow_import


def text(fragment: str) -> str:
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def audit_rows(web) -> list[dict]:
    """The audit page's rows: action, channel badge, target and details as the reader sees them."""
    rows = []
    for action, body in re.findall(r'<tr data-action="(\w+)">(.*?)</tr>', web.get("/audit/").text, re.S):
        cells = re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        badge = re.search(r'<span class="badge">(.*?)</span>', cells[1])
        rows.append({"action": action, "channel": text(badge.group(1)) if badge else "",
                     "target": text(cells[3]), "details": text(cells[4])})
    return rows


def import_on_the_web(web, csv: bytes) -> None:
    answer = web.post("/exchange/import/", files={"file": ("名单.csv", csv, "text/csv")},
                      data={"on_duplicate": "update"}, allow_redirects=False)
    assert answer.status_code == 302, answer.text[:300]
    run = web.post("/exchange/import/mapping/", data={
        "kind-0": "customers", "col-0-0": "code", "col-0-1": "name", "on_duplicate": "update", "action": "run"},
        allow_redirects=False)
    assert "/exchange/import/progress/" in run.headers["Location"]
    batch_url = follow_import(web, run.headers["Location"])
    assert re.search(r"/exchange/import/\d+/$", batch_url)


@pytest.mark.worker
def test_an_edit_in_chromium_keeps_the_seconds_and_the_audit_log_reads_in_labels(browser_page, server):
    web = server.session()
    made = web.post("/api/customers", json={"code": "SEC-1", "name": "秒级客户",
                                            "registered_at": "2024-03-05T09:08:07+08:00"})
    assert made.status_code in (200, 201), made.text

    browser_page.goto("/customers/SEC-1/edit/")
    assert browser_page.input_value("input[name=registered_at]") == "2024-03-05T09:08:07"
    browser_page.fill("textarea[name=notes]", "老客户，逢年过节送礼")
    browser_page.click("form.form-card button[type=submit]")
    browser_page.wait_for_url(re.compile(r"/customers/SEC-1/$"))

    stored = web.get("/api/customers/SEC-1").json()
    assert datetime.fromisoformat(stored["registered_at"]) == datetime.fromisoformat("2024-03-05T09:08:07+08:00")
    assert stored["notes"] == "老客户，逢年过节送礼"

    import_on_the_web(web, "客户编号,姓名\nWEB-1,网页导入甲\nWEB-2,网页导入乙\n".encode())

    rows = audit_rows(web)
    edit = next(r for r in rows if r["action"] == "update" and "秒级客户" in r["target"])
    assert edit["channel"] == "网页"
    assert "备注：— → 老客户，逢年过节送礼" in edit["details"]
    assert "notes" not in edit["details"] and "registered_at" not in edit["details"]
    created = next(r for r in rows if r["action"] == "create" and "秒级客户" in r["target"])
    assert created["channel"] == "API"
    imported = next(r for r in rows if r["action"] == "import")
    assert imported["channel"] == "网页"  # run by a background thread of the server, started on the web
    assert re.search(r"文件=名单\.csv.*新增=2", imported["details"])

    server.store.kehu("export", "customers", "-o", str(server.store.home / "all.xlsx"))
    english = server.session()
    english.cookies.set("django_language", "en")
    rows = audit_rows(english)
    assert [r["channel"] for r in rows if r["action"] == "export"] == ["Command line"]
    edit = next(r for r in rows if r["action"] == "update" and "秒级客户" in r["target"])
    assert edit["channel"] == "Web" and "Notes" in edit["details"]
