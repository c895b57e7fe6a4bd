"""Hostile or mistaken files are refused quickly, with a message saying what to do: a zip bomb dressed as a
workbook, a zip that lies about its sizes, sheets with too many rows or columns, an upload over the limit."""

import time
import tracemalloc

import pytest

from kehu.exchange.readers import UnreadableFile, read_workbook

from .helpers import write_csv, write_xlsx, write_zip_bomb


def test_it_refuses_an_xlsx_that_would_unzip_past_the_limit_at_once_and_with_little_memory(tmp_path):
    bomb = write_zip_bomb(tmp_path / "客户.xlsx", inflated_mb=1500, padding_mb=3)
    assert 4_000_000 < bomb.stat().st_size < 6_000_000
    tracemalloc.start()
    started = time.monotonic()
    with pytest.raises(UnreadableFile) as refused:
        read_workbook(bomb)
    took = time.monotonic() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert took < 2 and peak < 20 << 20
    assert "解压后超过 1,000 MB" in str(refused.value) and "KEHU_UNZIPPED_MAX_MB" in str(refused.value)


def test_it_refuses_a_zip_that_lies_about_how_large_it_unzips(tmp_path, settings):
    liar = write_zip_bomb(tmp_path / "客户.xlsx", inflated_mb=40, declared_mb=1)
    with pytest.raises(UnreadableFile) as refused:
        read_workbook(liar)
    assert "不是有效的 Excel 文件" in str(refused.value)
    settings.KEHU_UNZIPPED_MAX_MB = 10
    honest = write_zip_bomb(tmp_path / "大.xlsx", inflated_mb=11)
    with pytest.raises(UnreadableFile, match="解压后超过 10 MB"):
        read_workbook(honest)


@pytest.mark.django_db
def test_a_workbook_within_the_limits_reads_as_before(tmp_path, settings):
    settings.KEHU_IMPORT_MAX_ROWS = 4
    settings.KEHU_IMPORT_MAX_COLUMNS = 3
    path = write_xlsx(tmp_path / "客户.xlsx", {"客户": [["客户编号", "姓名", "手机"], ["C1", "张三", "13812345678"],
                                                        ["C2", "李四", "13912345678"], ["C3", "王五", ""]]})
    assert [s.kind for s in read_workbook(path)] == ["customers"]


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_a_sheet_with_more_rows_than_the_limit_is_refused_saying_how_to_split_it(tmp_path, settings, suffix):
    settings.KEHU_IMPORT_MAX_ROWS = 10
    rows = [["客户编号", "姓名"], *([f"C{i}", "张三"] for i in range(20))]
    path = (write_xlsx(tmp_path / "客户.xlsx", {"客户": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "客户.csv", rows))
    with pytest.raises(UnreadableFile) as refused:
        read_workbook(path)
    assert "有 21 行，超过一次导入的上限 10 行：请把它拆成几个文件分别导入" in str(refused.value)


@pytest.mark.django_db
@pytest.mark.parametrize("suffix", ["xlsx", "csv"])
def test_a_sheet_with_more_columns_than_the_limit_is_refused(tmp_path, settings, suffix):
    rows = [["客户编号", "姓名", *(f"列{i}" for i in range(1001))], ["C1", "张三", *([1] * 1001)]]
    path = (write_xlsx(tmp_path / "客户.xlsx", {"客户": rows}) if suffix == "xlsx"
            else write_csv(tmp_path / "客户.csv", rows))
    with pytest.raises(UnreadableFile) as refused:
        read_workbook(path)
    assert "有 1,003 列，超过一次导入的上限 1,000 列：请删除不需要的列" in str(refused.value)


@pytest.mark.django_db
def test_an_upload_over_the_limit_gets_a_413_page_and_nothing_is_kept(client, alice, settings):
    from django.core.files.uploadedfile import SimpleUploadedFile

    from kehu.exchange import uploads

    settings.KEHU_UPLOAD_MAX_MB = 1
    client.force_login(alice)
    big = SimpleUploadedFile("客户.csv", b"x" * (3 << 20), content_type="text/csv")
    answer = client.post("/exchange/import/", {"file": big, "on_duplicate": "update"})
    assert answer.status_code == 413
    assert "文件太大：上传的文件不能超过 1 MB" in answer.content.decode()
    assert uploads.kept_uploads() == []
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    big.seek(0)
    answer = client.post("/exchange/import/", {"file": big, "on_duplicate": "update"})
    assert answer.status_code == 413 and "File too large: an upload may be at most 1 MB" in answer.content.decode()
    del client.cookies[settings.LANGUAGE_COOKIE_NAME]
    api = client.post("/api/customers", data=b"{}" + b" " * (3 << 20), content_type="application/json")
    assert api.status_code == 413 and "1 MB" in api.json()["detail"]
    # a file a little over the limit inside a body the middleware lets through is caught by the form
    slightly = SimpleUploadedFile("客户.csv", b"x" * ((1 << 20) + 10), content_type="text/csv")
    answer = client.post("/exchange/import/", {"file": slightly, "on_duplicate": "update"})
    assert answer.status_code == 200 and "文件太大" in answer.content.decode()
    assert uploads.kept_uploads() == []
