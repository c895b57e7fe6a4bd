"""Reading merchants' spreadsheets: xlsx/xls/ods (python-calamine) and CSV in UTF-8, UTF-8-BOM, GBK or GB18030.

A workbook becomes a list of `Sheet`s. Each sheet knows its header row (found below any title rows),
what kind of records it holds and which column means which field; `Sheet.records()` streams the rows
below the header as (Excel row number, {field: raw value}) without holding the sheet in Python memory.
"""

import codecs
import csv
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from . import headers as h
from . import profiles

CSV_ENCODINGS = ["utf-8", "utf-8-sig", "gbk", "gb18030"]
SPREADSHEET_SUFFIXES = {".xlsx", ".xlsm", ".xls", ".xlsb", ".ods"}
CSV_SUFFIXES = {".csv", ".txt", ".tsv"}
HEADER_SCAN_ROWS = 30
# A CSV cell may be longer than the csv module's default 128 KiB (a pasted document in 备注); read it rather than fail.
csv.field_size_limit(16 * 1024 * 1024)


class UnreadableFile(Exception):
    """The file is not a spreadsheet we can read (message in Chinese)."""


@dataclass
class Sheet:
    name: str
    header_row: int  # as Excel shows it (1-based); 0 when no header was found
    headers: list[str]
    kind: str | None
    mapping: dict[int, str]  # column index → field key
    open_rows: Callable[[], Iterator[list]] = field(repr=False)
    first_column: int = 0  # 0-based index of the first column the reader returns
    total_rows: int | None = None
    profile: profiles.Profile | None = None  # the platform export this sheet is, when recognised
    masked_rows: list[int] = field(default_factory=list)  # rows whose phone was masked (158****7475)

    @property
    def kind_label(self) -> str:
        return h.KINDS.get(self.kind or "", "未识别")

    def column_letter(self, index: int) -> str:
        from openpyxl.utils import get_column_letter

        return get_column_letter(self.first_column + index + 1)

    def column_label(self, field_key: str) -> str:
        """The header the user wrote for a field (for messages), e.g. '手机号码'."""
        for i, f in self.mapping.items():
            if f == field_key:
                return self.headers[i] or h.LABELS.get(field_key, field_key)
        return h.LABELS.get(field_key, field_key)

    def rows(self) -> Iterator[tuple[int, list]]:
        """(Excel row number, cells) for every non-empty row below the header."""
        for number, cells in enumerate(self.open_rows(), start=1):
            if number <= self.header_row:
                continue
            if any(c not in ("", None) for c in cells):
                yield number, cells

    def records(self) -> Iterator[tuple[int, dict[str, object], list]]:
        """(Excel row number, {field: raw value}, cells) for every data row."""
        mapping = self.mapping
        for number, cells in self.rows():
            record = {}
            for i, key in mapping.items():
                value = cells[i] if i < len(cells) else ""
                if isinstance(value, str):
                    value = unguard(value.strip())
                if key == "mobile" and is_masked(value):
                    self.masked_rows.append(number)  # never a key, never stored as a mobile
                    continue
                if value not in ("", None):
                    record[key] = f"{record[key]} {value}" if key in record else value
            yield number, record, cells

    def remap(self, kind: str | None, mapping: dict[int, str]) -> None:
        self.kind = kind
        self.mapping = dict(mapping)


_GUARDED_NUMBER = re.compile(r"'[\d*+\- ]+")


def unguard(text: str) -> str:
    """Platforms guard long numbers from Excel as ="2024010512345678" or '13812345678; the value is inside."""
    if len(text) >= 3 and text.startswith('="') and text.endswith('"'):
        return text[2:-1].strip()
    if _GUARDED_NUMBER.fullmatch(text):
        return text[1:].strip()
    return text


def is_masked(value: object) -> bool:
    """A phone shown with asterisks (158****7475) is no phone number."""
    return isinstance(value, str) and "*" in value


def _find_header(rows: Iterator[list]) -> tuple[int, list[str]]:
    best_number, best_cells, best_count = 0, [], 0
    for number, cells in enumerate(rows, start=1):
        if number > HEADER_SCAN_ROWS:
            break
        count = max(h.recognised_count(cells), profiles.known_count(cells))
        if count > best_count:
            best_number, best_cells, best_count = number, cells, count
    if best_count < 2:
        return 0, []
    return best_number, [_text(c) for c in best_cells]


def _text(value: object) -> str:
    from .values import cell_text

    return cell_text(value)


def _check_size(name: str, rows: int | None, columns: int | None) -> None:
    """A sheet beyond KEHU_IMPORT_MAX_ROWS rows or KEHU_IMPORT_MAX_COLUMNS columns is refused, saying what to do."""
    max_rows, max_columns = settings.KEHU_IMPORT_MAX_ROWS, settings.KEHU_IMPORT_MAX_COLUMNS
    if rows is not None and rows > max_rows:
        raise UnreadableFile(f"工作表“{name}”有 {rows:,} 行，超过一次导入的上限 {max_rows:,} 行：请把它拆成几个文件"
                             f"分别导入（管理员可用 KEHU_IMPORT_MAX_ROWS 调整上限）。"
                             f" Sheet “{name}” has {rows:,} rows, more than the {max_rows:,} one import takes.")
    if columns is not None and columns > max_columns:
        raise UnreadableFile(f"工作表“{name}”有 {columns:,} 列，超过一次导入的上限 {max_columns:,} 列：请删除不需要的列"
                             f"后再导入（管理员可用 KEHU_IMPORT_MAX_COLUMNS 调整上限）。"
                             f" Sheet “{name}” has {columns:,} columns,"
                             f" more than the {max_columns:,} one import takes.")


def _widest(rows: Iterator[list], scan: int = HEADER_SCAN_ROWS) -> int:
    """The most cells in any of the first rows (a CSV does not declare its width)."""
    width = 0
    for number, cells in enumerate(rows, start=1):
        width = max(width, len(cells))
        if number >= scan:
            break
    return width


def check_unzipped_size(path: Path) -> None:
    """Refuse a zip-based workbook (xlsx, ods) that would inflate past KEHU_UNZIPPED_MAX_MB, before decompressing it.

    The sizes the zip declares are summed first (a bomb that declares them is refused at once, with no memory used).
    Then every entry is inflated in 1 MiB steps and thrown away, counting the bytes, so a zip that lies about its
    sizes is refused too as soon as the count passes the limit: python's zipfile stops at the declared size and
    checks the CRC, and a lie fails one or the other.
    """
    limit_mb = settings.KEHU_UNZIPPED_MAX_MB
    limit = limit_mb * (1 << 20)
    too_large = UnreadableFile(
        f"文件“{path.name}”解压后超过 {limit_mb:,} MB，不像正常的表格（可能是被压缩过的超大文件），已拒绝读取。"
        f"请另存为较小的文件或拆分后再导入（管理员可用 KEHU_UNZIPPED_MAX_MB 调整上限）。"
        f" “{path.name}” would unzip to more than {limit_mb:,} MB and was refused.")
    try:
        with zipfile.ZipFile(path) as archive:
            entries = archive.infolist()
            if sum(e.file_size for e in entries) > limit:
                raise too_large
            inflated = 0
            for entry in entries:
                with archive.open(entry) as member:
                    while chunk := member.read(1 << 20):
                        inflated += len(chunk)
                        if inflated > limit:
                            raise too_large
    except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, EOFError, OSError, ValueError) as exc:
        raise UnreadableFile(f"无法读取文件“{path.name}”：不是有效的 Excel 文件（{exc}）") from exc


def _make_sheet(name: str, open_rows: Callable[[], Iterator[list]], first_column: int = 0,
                total_rows: int | None = None, shop_fields: bool = True,
                size: tuple[int, int] | None = None) -> Sheet:
    """`size` is the (rows, columns) a workbook declares; a CSV's are its line count and its widest first rows."""
    _check_size(name, *(size or (total_rows, _widest(open_rows()))))
    header_row, header_cells = _find_header(open_rows())
    profile = profiles.match(header_cells) if header_row else None
    if profile is not None:  # a platform's order export: its own column list, no guessing
        return Sheet(name=name, header_row=header_row, headers=header_cells, kind=h.PURCHASES,
                     mapping=profile.mapping(header_cells), open_rows=open_rows, first_column=first_column,
                     total_rows=total_rows, profile=profile)
    kind = h.guess_kind(name, header_cells) if header_row else None
    extra = h.extra_fields(kind) if kind and shop_fields else {}
    mapping = h.map_headers(header_cells, kind, extra) if kind else {}
    return Sheet(name=name, header_row=header_row, headers=header_cells, kind=kind, mapping=mapping,
                 open_rows=open_rows, first_column=first_column, total_rows=total_rows)


def detect_encoding(path: Path, chunk_size: int = 1 << 20) -> str:
    """The first of UTF-8, UTF-8-BOM, GBK, GB18030 that decodes the whole file strictly."""
    with open(path, "rb") as f:
        head = f.read(3)
    candidates = ["utf-8-sig"] if head == codecs.BOM_UTF8 else CSV_ENCODINGS
    for encoding in candidates:
        decoder = codecs.getincrementaldecoder(encoding)(errors="strict")
        try:
            with open(path, "rb") as f:
                while chunk := f.read(chunk_size):
                    decoder.decode(chunk)
                decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            continue
        return encoding
    raise UnreadableFile("无法识别文件编码：请另存为 UTF-8 或 GBK 编码的 CSV，或 Excel 文件")


def _sniff_delimiter(sample: str) -> str:
    try:
        return csv.Sniffer().sniff(sample, delimiters=",\t;|").delimiter
    except csv.Error:
        return "\t" if sample.count("\t") > sample.count(",") else ","


def _count_lines(path: Path) -> int:
    count = 0
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            count += chunk.count(b"\n")
    return count


def read_csv(path: Path, name: str | None = None, shop_fields: bool = True) -> list[Sheet]:
    encoding = detect_encoding(path)
    with open(path, encoding=encoding, newline="") as f:
        delimiter = _sniff_delimiter(f.read(16384))

    def open_rows() -> Iterator[list]:
        with open(path, encoding=encoding, newline="") as f:
            # NUL is never meant in a cell, and PostgreSQL cannot store it (not even in the error report's JSON).
            yield from ([cell.replace("\x00", "") for cell in row] for row in csv.reader(f, delimiter=delimiter))

    sheet = _make_sheet(name or Path(path).stem, open_rows, total_rows=_count_lines(path), shop_fields=shop_fields)
    sheet.encoding = encoding  # type: ignore[attr-defined]
    return [sheet]


def read_spreadsheet(path: Path, shop_fields: bool = True) -> list[Sheet]:
    with open(path, "rb") as f:
        if f.read(2) == b"PK":  # xlsx, xlsm, xlsb and ods are zip files
            check_unzipped_size(Path(path))
    try:
        workbook = CalamineWorkbook.from_path(str(path))
    except Exception as exc:  # calamine raises several error types for damaged or foreign files
        raise UnreadableFile(f"无法读取文件“{Path(path).name}”：不是有效的 Excel 文件（{exc}）") from exc
    sheets = []
    for meta in workbook.sheets_metadata:
        if meta.typ != SheetTypeEnum.WorkSheet or meta.visible != SheetVisibleEnum.Visible:
            continue
        calamine_sheet = workbook.get_sheet_by_name(meta.name)
        start = calamine_sheet.start or (0, 0)

        def open_rows(s=calamine_sheet) -> Iterator[list]:
            return iter(s.iter_rows())

        sheets.append(_make_sheet(meta.name, open_rows, first_column=start[1],
                                  total_rows=calamine_sheet.total_height, shop_fields=shop_fields,
                                  size=(calamine_sheet.height, calamine_sheet.width)))
    return sheets


def read_workbook(path: str | Path, name: str | None = None, shop_fields: bool = True) -> list[Sheet]:
    """Every sheet of a workbook or CSV file; raises UnreadableFile for anything else.

    With shop_fields=False the shop's own custom fields and feedback dimensions (from the database) are
    not looked up, so a file can be read before any database exists.
    """
    path = Path(path)
    if not path.exists():
        raise UnreadableFile(f"找不到文件“{path}”")
    suffix = Path(name or path.name).suffix.lower()
    if suffix in CSV_SUFFIXES:
        return read_csv(path, Path(name).stem if name else None, shop_fields)
    if suffix in SPREADSHEET_SUFFIXES:
        return read_spreadsheet(path, shop_fields)
    with open(path, "rb") as f:
        magic = f.read(8)
    if magic.startswith(b"PK") or magic.startswith(b"\xd0\xcf\x11\xe0"):
        return read_spreadsheet(path, shop_fields)
    return read_csv(path, Path(name).stem if name else None, shop_fields)


def sample_rows(sheet: Sheet, limit: int = 5) -> list[list[str]]:
    """The first data rows as text (for the wizard's mapping page)."""
    out = []
    for _, cells in sheet.rows():
        out.append([_text(c) for c in cells])
        if len(out) >= limit:
            break
    return out
