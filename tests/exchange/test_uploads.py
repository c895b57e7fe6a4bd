"""Uploaded spreadsheets live only while an import needs them: private on disk, swept when abandoned or when their
import is finished, and deleted with the person a PIPL erase removes."""

import os
import stat
import time

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile

from kehu.customers.privacy import erase
from kehu.exchange import uploads
from kehu.exchange.models import ImportBatch
from tests.conftest import make_customer, make_order

pytestmark = pytest.mark.django_db


def upload(name: str, text: str):
    return uploads.save_upload(SimpleUploadedFile(name, text.encode("utf-8"), content_type="text/csv"))


def test_an_upload_is_readable_by_the_owner_only():
    path = upload("会员.csv", "姓名,手机\n王芳,13911112222\n")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    folders = [path.parent, path.parent.parent, settings.KEHU_HOME / "imports"]
    assert [stat.S_IMODE(f.stat().st_mode) for f in folders] == [0o700] * 3
    assert uploads.kept_uploads() == [path]


def test_the_sweep_takes_abandoned_uploads_and_those_of_finished_imports_only(alice):
    abandoned = upload("上周.csv", "姓名\n甲\n")
    week_ago = time.time() - 7 * 86400
    os.utime(abandoned, (week_ago, week_ago))
    finished = upload("已导入.csv", "姓名\n乙\n")
    ImportBatch.objects.create(file_name="已导入.csv", stored_file=str(finished), status=ImportBatch.Status.DONE)
    running = upload("导入中.csv", "姓名\n丙\n")
    ImportBatch.objects.create(file_name="导入中.csv", stored_file=str(running), status=ImportBatch.Status.RUNNING)
    in_wizard = upload("刚上传.csv", "姓名\n丁\n")

    assert sorted(p.name for p in uploads.sweep()) == ["上周.csv", "已导入.csv"]
    assert sorted(p.name for p in uploads.kept_uploads()) == ["刚上传.csv", "导入中.csv"]
    assert not abandoned.parent.exists()  # the upload's own folder goes with it
    assert in_wizard.exists() and running.exists()


def test_discard_leaves_files_outside_the_upload_folder_alone(tmp_path):
    elsewhere = tmp_path / "客户.csv"
    elsewhere.write_text("姓名\n甲\n")
    assert uploads.discard(elsewhere) is False
    assert elsewhere.exists()


def test_a_pipl_erase_deletes_every_upload_that_mentions_the_person(alice, zhang):
    by_mobile = upload("手机.csv", "姓名,手机\n某人,138 1234 5678\n")
    by_code = upload("编号.csv", f"客户编号,备注\n{zhang.code},老客户\n")
    by_email = upload("邮箱.csv", "邮箱\nZhangWei@example.com\n")
    someone_else = upload("别人.csv", "姓名,手机\n李娜,13987654321\n")

    erase(zhang, alice)

    assert [p.name for p in uploads.kept_uploads()] == ["别人.csv"]
    assert not by_mobile.exists() and not by_code.exists() and not by_email.exists()
    assert someone_else.exists()


def test_a_pipl_erase_of_an_anonymised_customer_also_clears_uploads(alice, li):
    make_order(li)
    kept = upload("订单.csv", "手机,金额\n+86 139 8765 4321,100\n")
    assert erase(li, alice).mode == "anonymised"
    assert not kept.exists()


def test_an_unreadable_upload_is_deleted_by_an_erase_since_it_may_mention_the_person(alice):
    person = make_customer(name="赵六", code="ZL-1")
    broken = uploads.save_upload(SimpleUploadedFile("坏的.xlsx", b"not a workbook"))
    erase(person, alice)
    assert not broken.exists()
