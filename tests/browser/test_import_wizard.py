"""The import wizard tried in a real browser: upload, change a column, preview, import, download, revert."""

import pytest

from kehu.customers.models import Customer
from kehu.exchange.models import ImportBatch
from tests.conftest import PASSWORD
from tests.exchange.helpers import write_xlsx

from .conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _import_in_the_request(settings, tmp_path):
    """Uploads under the test's folder; the import runs in the request (a background thread would not see
    SQLite's in-memory test database)."""
    settings.KEHU_HOME = tmp_path / "kehu-home"
    settings.KEHU_IMPORT_BACKGROUND = False


def test_it_imports_a_workbook_through_the_wizard_and_reverts_it(page, alice, tmp_path):
    path = write_xlsx(tmp_path / "客户管理表格.xlsx", {
        "客户基本信息": [["客户编号", "姓名", "手机号码", "备注"], ["W1", "吴一", "13600000001", "老客户"],
                         ["W2", "吴二", "1360000", ""], ["W3", "", "13600000003", ""]],
        "消费记录": [["客户编号", "消费日期", "消费金额"], ["W1", "2024/1/5", "¥1,200.00"], ["W9", "2024/1/6", "10"]],
    }, titles={"客户基本信息": "我的客户"})
    log_in(page, "alice", PASSWORD)
    page.goto("/exchange/import/")
    page.set_input_files("input[name=file]", str(path))
    page.click("#upload-submit")
    page.wait_for_url("**/exchange/import/mapping/")
    assert page.locator("section.sheet").count() == 2
    assert page.locator("select[name='kind-0']").input_value() == "customers"
    assert page.locator("select[name='col-0-2']").input_value() == "mobile"
    page.select_option("select[name='col-0-3']", "")  # do not import 备注
    page.click("button[value=preview]")
    counts = page.locator("#preview tr[data-kind='客户信息'] td")
    # W9 is known only from its purchase: created (the third new customer), and the preview says so.
    assert [counts.nth(i).inner_text() for i in range(6)] == ["客户信息", "3", "0", "0", "0", "1"]
    assert "找不到该客户（客户编号不存在），已新建客户“W9”" in page.locator("#preview").inner_text()
    page.click("button[value=run]")
    page.wait_for_url("**/exchange/import/*/")
    assert Customer.objects.get(code="W1").notes == ""
    assert Customer.objects.get(code="W2").mobile == ""
    with page.expect_download() as download:
        page.click("text=下载错误报告")
    assert download.value.suggested_filename.startswith("错误报告")
    page.on("dialog", lambda dialog: dialog.accept())
    page.click("text=撤销这次导入")
    page.wait_for_selector("#status:has-text('已撤销')")
    assert not Customer.objects.exists()
    assert ImportBatch.objects.get().status == "reverted"
