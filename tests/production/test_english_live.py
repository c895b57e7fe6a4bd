"""English on the production path: a live `kehu serve` over a store with customers, orders and computed classes;
the admin logs in in Chromium, picks English in the header's 中文 | English switch, and the main pages show no
Chinese character — not in the text, the tooltips, the placeholders nor the chart data. The shop's own words are
Latin here, so anything Chinese left is kehu's own. The same server then hands out the summary report in English,
and `kehu import` reads it back changing nothing."""

import datetime
import io
import re

import openpyxl

from .harness import signed_in_page
from .test_round_trips import counts, dump

CJK = re.compile(r"[\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef]")
PAGES = ["/", "/customers/", "/customers/EN-2/", "/engagement/follow-ups/", "/segments/",
         "/segments/analysis/retention/", "/segments/analysis/trends/", "/segments/analysis/preferences/",
         "/segments/analysis/regions/", "/segments/risk/", "/segments/rules/new/", "/marketing/",
         "/marketing/lists/new/", "/marketing/campaigns/", "/exchange/import/", "/customers/health/", "/audit/",
         "/settings/", "/settings/users/", "/settings/playbooks/", "/segments/settings/"]
# What a person reads: the visible text, tooltips and labels read aloud, placeholders, and the data the charts draw;
# the switch back to Chinese (中文) and the logo (客) are the only Chinese meant to be there.
READ = """() => {
  const skip = new Set([...document.querySelectorAll('.langswitch button[value="zh-hans"], .brand-mark')]);
  const parts = [document.title];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode;
    const el = node.parentElement;
    if (!el || el.closest('style') || [...skip].some(s => s.contains(el))) continue;
    if (el.closest('script') && el.closest('script').type !== 'application/json') continue;
    parts.push(node.textContent);
  }
  for (const el of document.querySelectorAll('[title], [aria-label], [placeholder], [data-confirm]')) {
    for (const a of ['title', 'aria-label', 'placeholder', 'data-confirm']) parts.push(el.getAttribute(a) || '');
  }
  return parts.join('\\n');
}"""


def test_english_from_the_header_switch_leaves_no_chinese_on_the_main_pages(browser, server, ready_store, tmp_path):
    api = server.session()
    today = datetime.date.today()
    for i, (name, gender, kind, size) in enumerate([("Alice Green", "female", "person", ""),
                                                    ("Bob Stone", "male", "company", "1000+"),
                                                    ("Carol King", "", "company", "10-49")]):
        assert api.post("/api/customers", json={
            "code": f"EN-{i}", "name": name, "mobile": f"1391111000{i}", "notes": "Likes tea", "gender": gender,
            "kind": kind, "company_size": size, "grade": "AB"[i % 2], "tags": ["VIP", "Tea lover"][: i + 1],
            "company": "Acme" if kind == "company" else ""}).status_code == 201
        for k in range(i + 1):
            day = today - datetime.timedelta(days=20 + 40 * k)
            assert api.post(f"/api/customers/EN-{i}/orders", json={
                "ordered_at": f"{day}T10:00:{k:02d}", "amount": str(80 + 50 * i),
                "payment_method": ["alipay", "wechat_pay", "card"][i], "sales_channel": "platform",
                "status": "refunded" if (i, k) == (2, 2) else "completed"}).status_code == 201
    ready_store.kehu("segment")

    page = signed_in_page(browser, server.url)
    context = page.context

    switch = page.locator("header .langswitch")
    assert switch.inner_text().split() == ["中文", "|", "English"]
    switch.locator("text=English").click()
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"

    left = {}
    for path in PAGES:
        response = page.goto(path)
        assert response.status == 200, path
        found = sorted({m.group(0) for m in re.finditer(r"\S*[\u3000-\u303f\u4e00-\u9fff\uff00-\uffef]+\S*",
                                                          page.evaluate(READ))})
        if found:
            left[path] = found
    assert page.locator("header .langswitch [aria-current=true]").inner_text() == "English"
    assert "Alice Green" in (page.goto("/customers/") and page.content())
    assert not left, left
    context.close()

    # Item 4 on the production path: the report downloaded in English from the live server, imported back by
    # `kehu import` (a subprocess), changes nothing — per customer and per order, as the database holds them.
    api.cookies.set("django_language", "en")
    response = api.get("/exchange/report.xlsx")
    assert response.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["Summary", "Customers", "Orders"]
    customers = list(book["Customers"].iter_rows(values_only=True))
    assert customers[0][:4] == ("Customer code", "Name", "Customer type", "Gender")
    assert {r[0]: r[2:4] for r in customers[1:]}["EN-1"] == ("Company", "Male")
    assert {r[9] for r in book["Orders"].iter_rows(min_row=2, values_only=True)} == {"Done", "Refunded"}
    path = tmp_path / "report-en.xlsx"
    path.write_bytes(response.content)
    before = dump(ready_store)
    run = ready_store.kehu("import", str(path))
    assert "错误 0 条" in run.stdout, run.stdout
    assert counts(run.stdout) == {"客户信息": (0, 0, 3, 0), "消费记录": (0, 0, 6, 0)}, run.stdout
    assert dump(ready_store) == before

    # `kehu export --lang en` writes what the English web download does.
    cli = tmp_path / "customers-en.xlsx"
    ready_store.kehu("export", "customers", "-o", str(cli), "--lang", "en")
    assert next(openpyxl.load_workbook(cli)["Customers"].iter_rows(max_row=1, values_only=True)) == customers[0]
