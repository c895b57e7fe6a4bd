"""Password-protected xlsx exports: a file that leaves the shop opens only with its password."""

import io
import zipfile

import msoffcrypto
import msoffcrypto.exceptions
import openpyxl
import pytest
from django.urls import reverse

from kehu.accounts.models import AuditEntry
from kehu.lib.officecrypto import decrypt_xlsx


def test_a_protected_export_needs_its_password(client, mary, zhang):
    client.force_login(mary)
    response = client.post(reverse("exchange:customers_export", args=["xlsx"]), {"password": "店外-2024"})
    assert response.status_code == 200
    locked = b"".join(response.streaming_content)
    with pytest.raises(zipfile.BadZipFile):
        openpyxl.load_workbook(io.BytesIO(locked))
    assert b"13812345678" not in locked and "张伟".encode() not in locked
    office = msoffcrypto.OfficeFile(io.BytesIO(locked))
    assert office.is_encrypted()
    with pytest.raises(msoffcrypto.exceptions.InvalidKeyError):
        decrypt_xlsx(locked, "wrong")
    book = openpyxl.load_workbook(io.BytesIO(decrypt_xlsx(locked, "店外-2024")))
    values = [c.value for row in book.active.iter_rows() for c in row]
    assert zhang.code in values
    assert AuditEntry.objects.get(action="export").details["password"] is True


def test_an_export_without_a_password_is_a_plain_workbook(client, mary, zhang):
    client.force_login(mary)
    for response in (client.get(reverse("exchange:customers_export", args=["xlsx"])),
                     client.post(reverse("exchange:report_export"), {"password": ""})):
        openpyxl.load_workbook(io.BytesIO(b"".join(response.streaming_content)))


def test_the_report_can_be_protected_too(client, mary, zhang):
    client.force_login(mary)
    response = client.post(reverse("exchange:report_export"), {"password": "pw-1234"})
    locked = b"".join(response.streaming_content)
    assert msoffcrypto.OfficeFile(io.BytesIO(locked)).is_encrypted()
    openpyxl.load_workbook(io.BytesIO(decrypt_xlsx(locked, "pw-1234")))


def test_the_import_page_offers_a_password(client, mary):
    client.force_login(mary)
    assert 'name="password"' in client.get(reverse("exchange:import")).content.decode()
