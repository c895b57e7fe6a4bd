"""Access that holds in production: backups tied to their data key, revocable tokens, headers that forbid
anything but kehu's own scripts — each through `kehu` as a subprocess and a live `kehu serve`."""

def test_a_token_revoked_with_kehu_apitoken_stops_working_over_http(server):
    import requests

    raw = server.store.kehu("apitoken", "admin", "--name", "ERP").stdout.strip()
    prefix = raw[:11]

    def me() -> requests.Response:
        return requests.get(server.url + "/api/me", headers={"Authorization": f"Bearer {raw}"}, timeout=30)

    assert me().status_code == 200 and me().json()["username"] == "admin"
    assert "no-store" in me().headers["Cache-Control"]
    assert prefix in server.store.kehu("apitoken", "--list").stdout

    assert "已撤销" in server.store.kehu("apitoken", "--revoke", prefix).stdout

    assert me().status_code == 401
    assert "已撤销（手动撤销）" in server.store.kehu("apitoken", "--list", "admin").stdout


def test_it_refuses_to_restore_a_backup_plain_or_encrypted_under_another_data_key(ready_store, tmp_path):
    ready_store.kehu("demo", "--customers", "5", "--seed", "2")
    encrypted, plain = tmp_path / "shop.kehu-backup", tmp_path / "shop.bak"
    ready_store.kehu("backup", "-o", str(encrypted))
    ready_store.kehu("backup", "-o", str(plain), "--plain")
    other_key = {"KEHU_DATA_KEY": "a-different-data-key-for-this-test-0123456789"}

    for target in (encrypted, plain):
        refused = ready_store.kehu("restore", str(target), "--yes", "--no-safety-backup", env=other_key, check=False)
        assert refused.returncode != 0, target
        assert "数据密钥" in refused.stderr and "data key" in refused.stderr, refused.stderr
    served = ready_store.kehu("serve", "--port", "9", env=other_key, check=False)  # refused before it listens
    assert served.returncode != 0 and "数据密钥不符" in served.stderr, served.stderr
    # the store still opens under its own key, and its customers' mobiles still decrypt
    mobiles = ready_store.shell("from kehu.customers.models import Customer; "
                                "print(sum(1 for c in Customer.objects.all() if c.mobile.startswith('+86')))")
    assert mobiles.strip().splitlines()[-1] == "5"
    # under the key it was made with, the plain file restores
    assert "已从" in ready_store.kehu("restore", str(plain), "--yes", "--no-safety-backup").stdout


CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
       "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")
ADMIN_PAGES = ["/", "/customers/", "/customers/new/", "/engagement/follow-ups/", "/segments/",
               "/segments/analysis/retention/", "/segments/analysis/trends/", "/segments/analysis/preferences/",
               "/segments/analysis/regions/", "/segments/movement/", "/segments/rules/", "/segments/rules/new/",
               "/segments/settings/", "/marketing/", "/marketing/campaigns/", "/marketing/pool/", "/customers/health/",
               "/audit/", "/exchange/import/", "/settings/", "/settings/users/", "/settings/users/new/",
               "/settings/tags/", "/settings/custom-fields/", "/settings/feedback-dimensions/", "/settings/playbooks/",
               "/settings/follow-up-rules/", "/settings/system/mail/", "/settings/system/backups/", "/api/docs"]
WATCH_CSP = """document.addEventListener("securitypolicyviolation", (e) => {
  (window.__cspViolations = window.__cspViolations || []).push(`${e.violatedDirective} ${e.blockedURI} ${e.sample}`);
});"""


def test_every_page_of_an_admin_loads_in_chromium_without_a_csp_violation(browser_page, server):
    server.store.kehu("demo", "--customers", "60", "--seed", "4")
    server.store.kehu("segment", "--no-progress")
    page, refused = browser_page, []
    page.context.add_init_script(WATCH_CSP)
    page.on("console", lambda m: refused.append(f"{page.url}: {m.text}")
            if "Content Security Policy" in m.text or "Refused to" in m.text else None)

    def visit(path: str) -> None:
        answer = page.goto(path)
        assert answer.status == 200, path
        assert answer.headers["content-security-policy"] == CSP, path
        page.wait_for_load_state("networkidle")
        refused.extend(f"{path}: {v}" for v in page.evaluate("window.__cspViolations || []"))

    for path in ADMIN_PAGES:
        visit(path)
    page.goto("/segments/")
    assert page.locator("[data-chart] canvas").count() >= 4  # ECharts drew the dashboard under the policy
    box = page.locator("[data-chart] canvas").first.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)  # a tooltip
    page.wait_for_timeout(300)
    refused.extend(f"/segments/ (hover): {v}" for v in page.evaluate("window.__cspViolations || []"))
    page.goto("/customers/")
    customer = page.locator("table a[href^='/customers/KH']").first.get_attribute("href")
    visit(customer)
    visit("/settings/users/1/")  # the admin's own page, with its API tokens
    page.goto("/exchange/import/")
    page.set_input_files("input[name=file]", files=[{"name": "客户.csv", "mimeType": "text/csv",
                                                     "buffer": "姓名,手机号码\n吴一,13600000001\n".encode()}])
    page.click("#upload-submit")
    page.wait_for_url("**/exchange/import/mapping/")
    page.wait_for_load_state("networkidle")
    refused.extend(f"mapping: {v}" for v in page.evaluate("window.__cspViolations || []"))
    assert refused == [], "\n".join(refused)
