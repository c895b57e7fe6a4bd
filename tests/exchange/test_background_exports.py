"""Big exports are written by the worker into a private encrypted file only their requester downloads, once."""

import datetime
import io
import os
import socket
import stat
import subprocess

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook

from kehu.accounts.models import AuditEntry, Role
from kehu.exchange import exports
from kehu.exchange.models import ExportJob
from kehu.lib import crypto
from kehu.marketing.models import TargetList
from tests.conftest import make_order

pytestmark = pytest.mark.django_db


def login(client, user):
    client.force_login(user, backend="django.contrib.auth.backends.ModelBackend")
    return client


@pytest.fixture
def big(settings):
    """Every export counts as big: more rows than none."""
    settings.KEHU_EXPORT_BACKGROUND_ROWS = 0


def _mobiles(body: bytes) -> dict[str, str]:
    rows = list(load_workbook(io.BytesIO(body), read_only=True).worksheets[0].values)
    header = rows[0]
    return {r[header.index("姓名")]: r[header.index("手机")] for r in rows[1:]}


def test_a_small_export_still_downloads_at_once(client, alice, zhang):
    response = login(client, alice).get(reverse("exchange:customers_export", args=["xlsx"]))
    assert response.status_code == 200 and not ExportJob.objects.exists()
    assert _mobiles(response.getvalue())["张伟"] == "138 1234 5678"


def test_a_big_export_is_written_sealed_and_downloaded_once_by_its_requester_only(client, alice, sam, zhang, li,
                                                                                 big, settings):
    login(client, alice)
    response = client.get(reverse("exchange:customers_export", args=["xlsx"]))
    job = ExportJob.objects.get()
    assert response.status_code == 302 and response.url == reverse("exchange:export_job", args=[job.pk.hex])
    assert (job.status, job.user, job.done, job.total) == ("done", alice, 2, 2)
    assert AuditEntry.objects.filter(action="export", target_label="customers").count() == 1
    page = client.get(response.url).content.decode()
    assert "文件已生成，共 2 行" in page and reverse("exchange:export_download", args=[job.pk.hex]) in page

    folder = settings.KEHU_HOME / "exports" / job.pk.hex
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700 and os.listdir(folder) == ["sealed"]
    assert stat.S_IMODE((folder / "sealed").stat().st_mode) == 0o600
    sealed = (folder / "sealed").read_bytes()
    assert sealed.startswith(b"KEHU-SEALED") and b"PK" not in sealed[:40]  # not the workbook's zip as is

    rep = login(client.__class__(), sam)  # another user, a sales rep who owns 张伟: not theirs to see or fetch
    assert rep.get(response.url).status_code == 404
    assert rep.get(reverse("exchange:export_download", args=[job.pk.hex])).status_code == 404

    download = client.get(reverse("exchange:export_download", args=[job.pk.hex]))
    assert download["Content-Disposition"].startswith("attachment")
    assert _mobiles(download.getvalue()) == {"张伟": "138 1234 5678", "李娜": "139 8765 4321"}
    assert not folder.exists() and ExportJob.objects.get().status == "downloaded"
    assert client.get(reverse("exchange:export_download", args=[job.pk.hex])).status_code == 404
    assert "文件已下载，已从服务器删除" in client.get(response.url).content.decode()


def test_the_worker_exports_with_the_rights_the_requester_has_when_it_runs(client, mary, zhang, big, settings):
    settings.KEHU_EXPORT_BACKGROUND = True  # queued after the commit a test never makes: the worker is us
    login(client, mary).get(reverse("exchange:customers_export", args=["xlsx"]))
    job = ExportJob.objects.get()
    assert job.status == "queued"
    mary.role = Role.VIEWER  # no longer sees contact details
    mary.save()
    assert exports.run(str(job.pk)) == 1
    body = client.get(reverse("exchange:export_download", args=[job.pk.hex])).getvalue()
    assert _mobiles(body)["张伟"] != "138 1234 5678" and "5678" in _mobiles(body)["张伟"]


def test_a_deactivated_requester_gets_no_file(client, mary, zhang, big, settings):
    settings.KEHU_EXPORT_BACKGROUND = True
    make_order(zhang)
    login(client, mary).get(reverse("exchange:orders_export", args=["csv"]))
    job = ExportJob.objects.get()
    mary.is_active = False
    mary.save()
    assert exports.run(str(job.pk)) is None
    job.refresh_from_db()
    assert (job.status, job.error, job.path) == ("failed", "账号已停用，不能导出。", "")
    assert not (settings.KEHU_HOME / "exports" / job.pk.hex).exists()


def test_a_locked_workbook_keeps_its_password_until_the_worker_took_it(client, alice, zhang, big):
    from msoffcrypto import OfficeFile

    login(client, alice).post(reverse("exchange:report_export"), {"password": "секрет-123"})
    job = ExportJob.objects.get()
    assert job.status == "done" and job.password == ""
    body = client.get(reverse("exchange:export_download", args=[job.pk.hex])).getvalue()
    office, plain = OfficeFile(io.BytesIO(body)), io.BytesIO()
    office.load_key(password="секрет-123")
    office.decrypt(plain)
    assert load_workbook(plain).sheetnames[0] == "汇总"


def test_a_target_list_export_is_checked_again_when_the_worker_runs(client, mary, sam, zhang, big, settings):
    from kehu.engagement.models import Consent

    Consent.objects.create(customer=zhang, channel="email", granted=True)
    tl = TargetList.objects.create(name="我的名单", channel="email", created_by=mary)
    settings.KEHU_EXPORT_BACKGROUND = True
    response = login(client, mary).get(reverse("marketing:target_list_export", args=[tl.pk, "csv"]))
    job = ExportJob.objects.get()
    assert response.url == reverse("exchange:export_job", args=[job.pk.hex]) and job.file_name.startswith("邮件名单")
    assert exports.run(str(job.pk)) == 1
    text = client.get(reverse("exchange:export_download", args=[job.pk.hex])).getvalue().decode("utf-8-sig")
    assert "zhangwei@example.com" in text

    client.get(reverse("marketing:target_list_export", args=[tl.pk, "csv"]))
    second = ExportJob.objects.filter(status="queued").get()
    mary.role = Role.SALES  # still the list's creator, but a sales rep does not see contact details
    mary.save()
    assert exports.run(str(second.pk)) is None
    second.refresh_from_db()
    assert second.status == "failed" and "不能导出营销名单" in second.error


def test_an_export_whose_worker_died_is_failed_and_its_partial_file_deleted(alice, settings):
    gone = subprocess.Popen(["true"])
    gone.wait()
    job = ExportJob.objects.create(user=alice, kind="customers", fmt="csv", file_name="客户.csv", status="running",
                                   host=socket.gethostname(), pid=gone.pid, heartbeat_at=timezone.now())
    folder = settings.KEHU_HOME / "exports" / job.pk.hex
    folder.mkdir(parents=True)
    (folder / "plain").write_text("half")
    assert exports.recover_interrupted() == [job.pk.hex]
    job.refresh_from_db()
    assert job.status == "failed" and job.error == exports.INTERRUPTED and not folder.exists()


def test_a_file_nobody_downloaded_is_deleted_after_a_day(client, alice, zhang, big, settings):
    login(client, alice).get(reverse("exchange:customers_export", args=["csv"]))
    job = ExportJob.objects.get()
    assert exports.sweep() == []
    ExportJob.objects.filter(pk=job.pk).update(finished_at=timezone.now() - datetime.timedelta(hours=25))
    assert exports.sweep() == [job.pk.hex]
    assert not (settings.KEHU_HOME / "exports" / job.pk.hex).exists()
    assert client.get(reverse("exchange:export_download", args=[job.pk.hex])).status_code == 404
    assert "已删除；请重新导出" in client.get(reverse("exchange:export_job", args=[job.pk.hex])).content.decode()


def test_a_sealed_file_does_not_open_when_cut_short(tmp_path):
    plain = tmp_path / "plain"
    plain.write_bytes(os.urandom(3 << 20))
    crypto.seal_file(plain, tmp_path / "sealed", b"export")
    assert b"".join(crypto.open_sealed(tmp_path / "sealed", b"export")) == plain.read_bytes()
    cut = tmp_path / "cut"
    cut.write_bytes((tmp_path / "sealed").read_bytes()[:-100])
    with pytest.raises(Exception):  # noqa: B017 — InvalidTag or ValueError, never the bytes
        b"".join(crypto.open_sealed(cut, b"export"))


def test_the_rows_written_are_reported_as_the_table_grows():
    from kehu.exchange.exporters import Column, reporting, write_csv

    seen = []
    with reporting(seen.append):
        assert write_csv(io.StringIO(), [Column("号", 5)], ([i] for i in range(1200))) == 1200
    assert seen == [500, 500, 200]
