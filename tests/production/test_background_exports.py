"""Big exports are written by `kehu worker` on the production path: a live `kehu serve` (its worker beside it) over a
file-backed store, the threshold lowered through the environment. The status page follows the rows written, the file
waits encrypted in the store's private folder, its requester downloads it once, and another user cannot fetch it."""

import io
import json
import re
import stat
import time

from openpyxl import load_workbook

from .harness import ADMIN_PASSWORD, LiveServer, log_in

REP_PASSWORD = "Rep-Pass-2026!x"
SHOP = f"""
from kehu.accounts.models import User
from kehu.customers.models import Customer
rep = User.objects.create_user(username="rep", password="{REP_PASSWORD}", role="sales")
for i in range(40):
    Customer.objects.create(code=f"EX-{{i:02d}}", name=f"导出客户{{i}}", mobile=f"+86137{{i:08d}}",
                            owner=rep if i % 2 else None)
"""
CUSTOMERS = ("import json; from kehu.customers.models import Customer; from kehu.lib.phones import national_digits; "
             "print(json.dumps({c.code: [c.name, national_digits(c.mobile)] for c in Customer.objects.all()}))")
AUDIT = ("import json; from kehu.accounts.models import AuditEntry; "
         "print(json.dumps(list(AuditEntry.objects.filter(action='export').values_list('username', 'target_label'))))")


def _last_json(store, code: str):
    return json.loads(store.shell(code).strip().splitlines()[-1])


def _follow(web, status: str, timeout: float = 30) -> str:
    """Poll the status page as HTMX does until the file is written; the page."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        page = web.get(status, headers={"HX-Request": "true"})
        assert page.status_code == 200 and 'data-status="failed"' not in page.text, page.text[-600:]
        if 'data-status="done"' in page.text:
            return page.text
        time.sleep(0.2)
    raise AssertionError(f"{status} was not written within {timeout} s")


def test_a_big_export_is_written_by_the_worker_and_downloaded_once_by_its_requester(ready_store):
    ready_store.shell(SHOP)
    ready_store.env["KEHU_EXPORT_BACKGROUND_ROWS"] = "10"
    with LiveServer(ready_store, worker=True) as server:
        web = log_in(server.url, "admin", ADMIN_PASSWORD)
        started = web.get("/exchange/customers.xlsx", allow_redirects=False)
        assert started.status_code == 302, started.text[:300]
        status = started.headers["Location"]
        job = re.fullmatch(r"/exchange/exports/([0-9a-f]{32})/", status).group(1)
        page = _follow(web, status)
        assert "文件已生成，共 40 行" in page
        download = f"/exchange/exports/{job}/download/"
        assert download in page

        sealed = ready_store.home / "exports" / job / "sealed"
        assert stat.S_IMODE(sealed.stat().st_mode) == 0o600
        assert stat.S_IMODE(sealed.parent.stat().st_mode) == 0o700
        body = sealed.read_bytes()
        assert body.startswith(b"KEHU-SEALED") and "导出客户".encode() not in body

        rep = log_in(server.url, "rep", REP_PASSWORD)  # a sales rep who owns half of these customers
        assert rep.get(status).status_code == 404
        assert rep.get(download).status_code == 404

        got = web.get(download)
        assert got.status_code == 200 and got.headers["Content-Disposition"].startswith("attachment")
        rows = list(load_workbook(io.BytesIO(got.content), read_only=True).worksheets[0].values)
        header = rows[0]
        code, name, mobile = header.index("客户编号"), header.index("姓名"), header.index("手机")
        exported = {r[code]: [r[name], re.sub(r"\D", "", r[mobile])] for r in rows[1:]}
        assert exported == _last_json(ready_store, CUSTOMERS) and len(exported) == 40

        assert not sealed.parent.exists()
        assert web.get(download).status_code == 404  # once
        assert "文件已下载" in web.get(status).text
        assert _last_json(ready_store, AUDIT) == [["admin", "customers"]]
