import io

import pytest
from django.conf import settings
from django.urls import reverse

from kehu.customers.models import Customer
from kehu.exchange.models import ImportBatch, ImportTemplate
from kehu.sales.models import Order

from .helpers import read_xlsx, write_xlsx

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


def taobao_orders(tmp_path):
    return write_xlsx(tmp_path / "淘宝订单.xlsx", {"订单报表": [
        ["买家会员名", "收货人姓名", "联系手机", "付款时间", "买家实际支付金额", "宝贝标题", "备注信息"],
        ["tb_wang", "王芳", "13911112222", "2024-03-01 10:00:00", "199.00", "连衣裙", ""],
        ["tb_liu", "刘强", "13800138000", "2024-03-02 11:00:00", "¥59", "帽子", ""],
    ]})


def test_victor_cannot_open_the_import_wizard(client, victor):
    login(client, victor)
    assert client.get(reverse("exchange:import")).status_code == 403


def test_the_wizard_uploads_maps_previews_runs_and_reverts(client, alice, tmp_path):
    login(client, alice)
    path = write_xlsx(tmp_path / "客户.xlsx", {"会员": [
        ["会员号", "名字", "手机", "生日"], ["M1", "赵一", "13500001111", "1990-01-01"],
        ["M2", "", "13500002222", ""]]})
    with open(path, "rb") as f:
        response = client.post(reverse("exchange:import"), {"file": f, "on_duplicate": "update"})
    assert response.status_code == 302
    page = client.get(reverse("exchange:mapping")).content.decode()
    assert "客户信息" in page and 'name="col-0-0"' in page
    # The user decides the 生日 column should not be imported, previews, saves the mapping as a template.
    form = {"kind-0": "customers", "col-0-0": "code", "col-0-1": "name", "col-0-2": "mobile", "col-0-3": "",
            "on_duplicate": "update", "action": "preview", "template_name": "会员表"}
    preview = client.post(reverse("exchange:mapping"), form).content.decode()
    assert "预览结果" in preview and "缺少姓名" in preview
    assert Customer.objects.count() == 0
    assert ImportTemplate.objects.get(name="会员表").sheets[0]["columns"] == {
        "会员号": "code", "名字": "name", "手机": "mobile"}
    response = client.post(reverse("exchange:mapping"), {**form, "action": "run", "template_name": ""})
    batch = ImportBatch.objects.get()
    response = client.get(response.url)  # the progress page, finished at once here
    assert response.url == reverse("exchange:batch", args=[batch.pk])
    assert Customer.objects.get(code="M1").birthday is None
    result = client.get(response.url).content.decode()
    assert "撤销这次导入" in result and "下载错误报告" in result
    # The uploaded file is gone once the import committed; the report lists the problems from the batch.
    assert list((settings.KEHU_HOME / "imports").rglob("*.xlsx")) == []
    report = client.get(reverse("exchange:batch_report", args=[batch.pk]))
    problems = read_xlsx(b"".join(report.streaming_content))["问题清单"]
    assert problems[0] == ["工作表", "行号", "列", "值", "级别", "说明"]
    assert [(row[0], row[1]) for row in problems[1:] if row[1]] == [("会员", 3)]  # rowless lines are information
    client.post(reverse("exchange:batch_revert", args=[batch.pk]))
    assert Customer.objects.count() == 0
    batch.refresh_from_db()
    assert batch.status == "reverted"


def test_a_saved_template_maps_a_taobao_export(client, alice, tmp_path):
    login(client, alice)
    Customer.objects.create(name="王芳", mobile="+8613911112222")
    Customer.objects.create(name="刘强", mobile="+8613800138000")
    template = ImportTemplate.objects.create(name="淘宝", sheets=[{"kind": "purchases", "columns": {
        "联系手机": "mobile", "付款时间": "ordered_at", "买家实际支付金额": "amount", "宝贝标题": "product"}}])
    with open(taobao_orders(tmp_path), "rb") as f:
        client.post(reverse("exchange:import"), {"file": f, "on_duplicate": "update", "template": template.pk})
    client.post(reverse("exchange:mapping"), {
        "kind-0": "purchases", "col-0-2": "mobile", "col-0-3": "ordered_at", "col-0-4": "amount",
        "col-0-5": "product", "on_duplicate": "update", "action": "run"})
    assert sorted(Order.objects.values_list("amount", flat=True)) == [59, 199]


def test_the_customer_export_link_uses_the_list_filter_and_masks_for_victor(client, victor, zhang, li):
    login(client, victor)
    response = client.get(reverse("exchange:customers_export", args=["xlsx"]) + "?province=广东省")
    assert response["Content-Disposition"].startswith("attachment;")
    rows = read_xlsx(b"".join(response.streaming_content))["客户信息"]
    assert [(r[1], r[5]) for r in rows[1:]] == [("张伟", "138****5678")]


def test_sam_exports_only_his_own_customers_as_csv(client, sam, zhang, li):
    login(client, sam)
    response = client.get(reverse("exchange:customers_export", args=["csv"]))
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert "张伟" in text and "李娜" not in text


def test_templates_and_the_report_download(client, alice, zhang):
    login(client, alice)
    for kind in ("customers", "purchases", "preferences", "communications", "feedback"):
        response = client.get(reverse("exchange:template", args=[kind]))
        assert response.status_code == 200
    report = client.get(reverse("exchange:report_export"))
    assert set(read_xlsx(io.BytesIO(b"".join(report.streaming_content)).getvalue())) == {"汇总", "客户信息", "消费记录"}


def test_a_segment_exports_with_its_classes(client, mary, zhang, li):
    from kehu.segments.models import CustomerSegment

    CustomerSegment.objects.create(customer=zhang, changed_on="2024-06-30", rfm_class="重要价值客户",
                                   rf_segment="冠军客户", lifecycle="活跃客户")
    login(client, mary)
    response = client.get(reverse("exchange:customers_export", args=["xlsx"]) + "?segment=重要价值客户")
    rows = read_xlsx(b"".join(response.streaming_content))["客户信息"]
    assert [(r[1], r[21], r[22], r[23]) for r in rows[1:]] == [("张伟", "重要价值客户", "冠军客户", "活跃客户")]


@pytest.mark.django_db(transaction=True)
def test_a_web_import_runs_in_the_background_and_the_page_follows_its_progress(client, alice, tmp_path, settings):
    from django.core.management import call_command
    from django.db import connection

    if connection.vendor == "sqlite":
        pytest.skip("the worker's exclusive transaction cannot share SQLite's in-memory test database; "
                    "runs on PostgreSQL")
    settings.KEHU_IMPORT_BACKGROUND = True
    login(client, alice)
    rows = [["姓名", "手机"], *([f"客{i}", f"135{i:08d}"] for i in range(300))]
    path = write_xlsx(tmp_path / "c.xlsx", {"客户": rows})
    with open(path, "rb") as f:
        client.post(reverse("exchange:import"), {"file": f, "on_duplicate": "update"})
    response = client.post(reverse("exchange:mapping"), {"kind-0": "customers", "col-0-0": "name",
                                                          "col-0-1": "mobile", "action": "run"})
    progress_url = response.url
    assert "等待后台任务开始" in client.get(progress_url, HTTP_HX_REQUEST="true").content.decode()
    assert Customer.objects.count() == 0
    call_command("worker", "--batch", verbosity=0)  # what `kehu worker` does: runs the queued task
    polled = client.get(progress_url, HTTP_HX_REQUEST="true")
    batch = ImportBatch.objects.get()
    assert polled.status_code == 200 and polled["HX-Redirect"] == reverse("exchange:batch", args=[batch.pk])
    assert Customer.objects.count() == 300


def test_the_wizard_preview_shows_a_code_conflict_and_the_user_chooses_keep_code(client, alice, zhang, tmp_path):
    login(client, alice)
    code = zhang.code
    path = write_xlsx(tmp_path / "冲突.xlsx", {"客户": [["客户编号", "姓名", "手机"], ["K7", "张伟新", "13812345678"]]})
    with open(path, "rb") as f:
        client.post(reverse("exchange:import"), {"file": f, "on_duplicate": "update"})
    page = client.get(reverse("exchange:mapping")).content.decode()
    assert 'name="on_conflict"' in page and "合并到已有客户，保留其编号" in page
    form = {"kind-0": "customers", "col-0-0": "code", "col-0-1": "name", "col-0-2": "mobile",
            "on_duplicate": "update", "on_conflict": "error", "action": "preview"}
    preview = client.post(reverse("exchange:mapping"), form).content.decode()
    assert f"编号冲突：与已有客户“张伟”（客户编号 {code}）手机号码相同，但客户编号不同（本行为 K7）" in preview
    client.post(reverse("exchange:mapping"), {**form, "on_conflict": "keep-code", "action": "run"})
    zhang.refresh_from_db()
    assert (zhang.code, zhang.name) == (code, "张伟新")
    assert not Customer.objects.filter(code="K7").exists()


def test_the_wizard_takes_an_ods_workbook(client, alice, tmp_path):
    from odf.opendocument import OpenDocumentSpreadsheet
    from odf.table import Table, TableCell, TableRow
    from odf.text import P

    doc = OpenDocumentSpreadsheet()
    table = Table(name="客户")
    for row in [["客户编号", "姓名", "手机", "注册时间"], ["D1", "孙丽", 13500003333.0, "2024-01-05T13:45:12"]]:
        tr = TableRow()
        for i, value in enumerate(row):
            if isinstance(value, float):
                cell = TableCell(valuetype="float", value=str(value))
            elif i == 3 and value != "注册时间":
                cell = TableCell(valuetype="date", datevalue=value)
            else:
                cell = TableCell(valuetype="string")
            cell.addElement(P(text=str(value)))
            tr.addElement(cell)
        table.addElement(tr)
    doc.spreadsheet.addElement(table)
    path = tmp_path / "客户.ods"
    doc.save(str(path))
    login(client, alice)
    with open(path, "rb") as f:
        assert client.post(reverse("exchange:import"), {"file": f, "on_duplicate": "update"}).status_code == 302
    page = client.get(reverse("exchange:mapping")).content.decode()
    assert "客户信息" in page
    client.post(reverse("exchange:mapping"), {"kind-0": "customers", "col-0-0": "code", "col-0-1": "name",
                                              "col-0-2": "mobile", "col-0-3": "registered_at",
                                              "on_duplicate": "update", "action": "run", "template_name": ""})
    customer = Customer.objects.get(code="D1")
    assert customer.mobile == "+8613500003333"
    assert customer.registered_at.astimezone(settings_zone()).strftime("%Y-%m-%d %H:%M:%S") == "2024-01-05 13:45:12"


def settings_zone():
    import zoneinfo

    return zoneinfo.ZoneInfo(settings.TIME_ZONE)
