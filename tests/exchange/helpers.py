"""Real spreadsheet files for the exchange tests, written with openpyxl or encoded as GBK CSV."""

import csv
import io
from pathlib import Path

from openpyxl import Workbook, load_workbook


def write_xlsx(path: Path, sheets: dict[str, list[list]], titles: dict[str, str] | None = None) -> Path:
    """sheets: {name: [header, row, …]}; titles: {name: title} puts a merged title row (and a blank row) above."""
    wb = Workbook()
    wb.remove(wb.active)
    for name, rows in sheets.items():
        ws = wb.create_sheet(name)
        if titles and name in titles:
            ws.append([titles[name]])
            ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=max(len(rows[0]), 2))
            ws.append([])
        for row in rows:
            ws.append(row)
    wb.save(path)
    return path


def write_csv(path: Path, rows: list[list], encoding: str = "utf-8") -> Path:
    buf = io.StringIO()
    csv.writer(buf).writerows(rows)
    path.write_bytes(buf.getvalue().encode(encoding))
    return path


def read_xlsx(path_or_bytes) -> dict[str, list[list]]:
    """Every sheet's cell values, as lists of rows."""
    source = io.BytesIO(path_or_bytes) if isinstance(path_or_bytes, bytes) else path_or_bytes
    wb = load_workbook(source)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in wb.worksheets}
