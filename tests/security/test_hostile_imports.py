"""Hostile spreadsheets through the real importer: they never crash it and never lose a valid row; formulas
typed into cells come back out of the exports as text, never as formulas."""

import csv
import io
import zipfile

import pytest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import Workbook

from kehu.customers.models import Customer
from kehu.exchange.exporters import export_customers_csv, export_customers_xlsx
from kehu.exchange.importer import import_file
from kehu.exchange.readers import UnreadableFile
from tests.exchange.helpers import write_csv, write_xlsx

pytestmark = pytest.mark.django_db

HEADER = ["客户名称", "手机号码", "邮箱", "备注"]
VALID = ["有效客户", "13800138000", "ok@example.com", "正常"]
FORMULAS = ['=HYPERLINK("http://x","y")', "=cmd|' /C calc'!A0", "+1+1", "-2+3", "@SUM(1)", "\t=1+1"]
FUZZ_EXAMPLES = 25


@pytest.fixture(autouse=True)
def _uploads_in_tmp(settings, tmp_path):
    settings.KEHU_HOME = tmp_path / "kehu-home"
    settings.KEHU_IMPORT_BACKGROUND = False


def assert_valid_row_kept(result) -> None:
    assert Customer.objects.filter(name="有效客户").count() == 1, result.summary()
    kept = Customer.objects.get(name="有效客户")
    assert kept.mobile == "+8613800138000" and kept.email == "ok@example.com"


@pytest.mark.parametrize("hostile", [
    pytest.param(["公式客户", '=HYPERLINK("http://x","y")', "=1+1", "=cmd|' /C calc'!A0"], id="formulas"),
    pytest.param(["大" * 100_000, "x" * 50_000, "@" * 10_000, "备" * 200_000], id="huge-cells"),
    pytest.param([12345, 3.5, True, None], id="wrong-types"),
    pytest.param(["\x00\x01\x1f", "\ud7ff", "<script>alert(1)</script>", "'; DROP TABLE customers_customer;--"],
                 id="control-and-injection"),
])
def test_a_hostile_row_next_to_a_valid_one_loses_nothing(tmp_path, alice, hostile):
    path = tmp_path / "hostile.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, hostile, VALID])
    path.write_bytes(buf.getvalue().encode("utf-8", "surrogatepass"))
    result = import_file(path, user=alice)
    assert_valid_row_kept(result)


def test_a_row_with_100k_columns_is_refused_clearly_or_read_under_a_raised_limit(tmp_path, alice):
    path = tmp_path / "wide.csv"
    write_csv(path, [HEADER, ["宽行客户", "", "", "x"] + ["y"] * 100_000, VALID])
    with pytest.raises(UnreadableFile) as refused:
        import_file(path, user=alice)
    assert "100,004 列" in str(refused.value) and "KEHU_IMPORT_MAX_COLUMNS" in str(refused.value)
    with override_settings(KEHU_IMPORT_MAX_COLUMNS=200_000):
        result = import_file(path, user=alice)
    assert_valid_row_kept(result)


@pytest.mark.parametrize("encoding", ["utf-8", "gbk", "utf-16", "latin-1"])
def test_broken_or_unusual_encodings_never_crash(tmp_path, alice, encoding):
    path = tmp_path / "enc.csv"
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, VALID])
    raw = buf.getvalue().encode(encoding, "replace")
    path.write_bytes(raw + b"\xff\xfe\x80broken\xc3(\n")
    try:
        import_file(path, user=alice)
    except Exception as exc:  # a clear refusal is fine; a crash of another kind is not
        assert type(exc).__name__ in {"UnreadableFile", "ReadError", "ValueError"}, repr(exc)


def test_a_truncated_xlsx_is_refused_clearly(tmp_path, alice):
    good = write_xlsx(tmp_path / "ok.xlsx", {"客户": [HEADER, VALID]})
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(good.read_bytes()[:300])
    with pytest.raises(Exception) as info:
        import_file(broken, user=alice)
    assert "Traceback" not in str(info.value)


cell = st.one_of(st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=60),
                 st.integers(), st.floats(allow_nan=True), st.booleans(), st.none(),
                st.sampled_from(FORMULAS), st.dates().map(str))


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
@given(rows=st.lists(st.lists(cell, min_size=0, max_size=8), min_size=0, max_size=6))
def test_hypothesis_generated_sheets_never_crash_and_keep_the_valid_row(tmp_path_factory, alice, rows):
    Customer.objects.filter(name="有效客户").delete()
    path = tmp_path_factory.mktemp("fuzz") / "fuzz.xlsx"
    wb = Workbook()
    ws = wb.active
    ws.append(HEADER)
    for row in rows:
        ws.append([("'" + v) if isinstance(v, str) and v.startswith("=") else v for v in row])
    ws.append(VALID)
    wb.save(path)
    result = import_file(path, user=alice)
    assert_valid_row_kept(result)


@pytest.fixture
def formula_customers(alice):
    for i, text in enumerate(FORMULAS):
        Customer.objects.create(name=text, notes=text, company=text, code=f"F{i}")
    Customer.objects.create(name="控制\x01字符\x1b", notes="\x07", code="CTRL")  # possible from a CSV import


def test_formulas_come_out_of_the_xlsx_export_as_text(alice, formula_customers):
    out = io.BytesIO()
    export_customers_xlsx(Customer.objects.all(), alice, out)
    sheet = zipfile.ZipFile(io.BytesIO(out.getvalue())).read("xl/worksheets/sheet1.xml").decode()
    assert "<f>" not in sheet and "HYPERLINK" in sheet


def test_formulas_come_out_of_the_csv_export_prefixed(alice, formula_customers):
    out = io.StringIO()
    export_customers_csv(Customer.objects.all(), alice, out)
    cells = [c for row in csv.reader(io.StringIO(out.getvalue())) for c in row]
    for text in FORMULAS:
        assert text not in cells
        assert "'" + text in cells
