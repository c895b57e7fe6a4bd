"""A saved column mapping leaves kehu as a file and comes back (web and command line)."""

import json

import pytest
from django.urls import reverse

from kehu.customers.models import Customer
from kehu.exchange.importer import import_file
from kehu.exchange.mappings import apply_template, load_template, save_template, template_json
from kehu.exchange.models import ImportTemplate
from kehu.exchange.readers import read_workbook

from .helpers import write_xlsx

pytestmark = pytest.mark.django_db


def own_sheet(tmp_path):
    return write_xlsx(tmp_path / "会员本.xlsx", {"本子": [["卡号", "顾客", "电话", "城市"],
                                                        ["V01", "钱多多", "13700001111", "杭州市"]]})


def test_a_mapping_saved_exported_and_loaded_again_maps_the_same_columns(tmp_path, alice):
    path = own_sheet(tmp_path)
    sheets = read_workbook(path)
    sheets[0].remap("customers", {0: "code", 1: "name", 2: "mobile", 3: "city"})
    text = template_json(save_template("会员本", sheets, alice))
    ImportTemplate.objects.all().delete()

    template = load_template(text.encode(), alice)
    again = read_workbook(path)
    apply_template(template, again)
    assert (template.name, again[0].kind, again[0].mapping) == (
        "会员本", "customers", {0: "code", 1: "name", 2: "mobile", 3: "city"})
    import_file(path, user=alice, sheets=again)
    assert Customer.objects.get(code="V01").city == "杭州市"


@pytest.mark.parametrize(("text", "message"), [
    ("not json", "不是导入模板文件"),
    (json.dumps({"format": "kehu-import-template", "name": "x", "sheets": [{"kind": "orders", "columns": {}}]}),
     "模板第 1 个工作表的内容类型无法识别"),
    (json.dumps({"format": "kehu-import-template", "name": "x",
                 "sheets": [{"kind": "customers", "columns": {"卡号": "password"}}]}),
     "模板第 1 个工作表有无法识别的字段：password"),
])
def test_a_file_that_is_no_template_is_refused_with_a_reason(text, message):
    with pytest.raises(ValueError, match=message):
        load_template(text)
    assert not ImportTemplate.objects.exists()


def test_the_import_page_downloads_and_uploads_a_template_file(client, alice, victor, tmp_path):
    sheets = read_workbook(own_sheet(tmp_path))
    sheets[0].remap("customers", {0: "code", 1: "name"})
    template = save_template("会员本", sheets, alice)
    client.force_login(alice, backend="django.contrib.auth.backends.ModelBackend")
    page = client.get(reverse("exchange:import")).content.decode()
    assert reverse("exchange:mapping_template", args=[template.pk]) in page
    download = client.get(reverse("exchange:mapping_template", args=[template.pk]))
    assert json.loads(download.content)["sheets"] == [
        {"kind": "customers", "columns": {"卡号": "code", "顾客": "name"}}]

    template.delete()
    (tmp_path / "t.json").write_bytes(download.content)
    with open(tmp_path / "t.json", "rb") as f:
        client.post(reverse("exchange:mapping_template_upload"), {"template_file": f})
    assert list(ImportTemplate.objects.values_list("name", flat=True)) == ["会员本"]

    client.force_login(victor, backend="django.contrib.auth.backends.ModelBackend")
    assert client.get(reverse("exchange:mapping_template", args=[1])).status_code == 403
