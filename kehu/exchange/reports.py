"""The error report: the input sheets again, only the rows with problems, plus an 错误说明 column.

The user fixes the cells in this workbook and imports it again; headers stay as they were, so the same
recognition applies. A last sheet 问题清单 lists every problem (sheet, row, column, value, reason).
"""

from pathlib import Path
from typing import BinaryIO

from kehu.lib.cells import neutralise, sheet_title

from .readers import Sheet
from .values import cell_text

ERROR_COLUMN = "错误说明"
ROW_COLUMN = "原行号"
_FILLS = {"header": "DDEBF7", "error": "FCE4D6", "warning": "FFF2CC"}  # cell colours


def write_error_report(sheets: list[Sheet], problems: list, target: str | Path | BinaryIO) -> int:
    """Write the report; returns how many rows it holds. `problems` are importer.Problem objects."""
    from openpyxl import Workbook

    by_sheet: dict[str, dict[int, list]] = {}
    for p in problems:
        if p.row:
            by_sheet.setdefault(p.sheet, {}).setdefault(p.row, []).append(p)
    wb = Workbook(write_only=True)
    written = 0
    for sheet in sheets:
        rows = by_sheet.get(sheet.name)
        if not rows or not sheet.header_row:
            continue
        ws = wb.create_sheet(sheet_title(sheet.name))
        ws.freeze_panes = "A2"
        headers = list(sheet.headers)
        ws.append([_header_cell(ws, text) for text in [*headers, ERROR_COLUMN, ROW_COLUMN]])
        ws.column_dimensions["A"].width = 14
        width = len(headers)
        for number, cells in sheet.rows():
            found = rows.get(number)
            if not found:
                continue
            values = [cell_text(c) if not isinstance(c, int | float) else c for c in cells[:width]]
            values += [""] * (width - len(values))
            message = "；".join(
                (f"【{p.column}】" if p.column else "") + p.message + ("" if p.level == "error" else "（已导入）")
                for p in found)
            level = "error" if any(p.level == "error" for p in found) else "warning"
            ws.append([*(neutralise(v) for v in values), _note_cell(ws, message, level), number])
            written += 1
    ws = wb.create_sheet("问题清单")
    ws.append([_header_cell(ws, t) for t in ["工作表", "行号", "列", "值", "级别", "说明"]])
    for p in problems:
        ws.append([neutralise(v) for v in (p.sheet, p.row or None, p.column, p.value, p.level_label, p.message)])
    wb.save(target)
    return written


def _header_cell(ws, text: str):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font, PatternFill

    cell = WriteOnlyCell(ws, value=neutralise(text))
    cell.font = Font(bold=True)
    cell.fill = PatternFill("solid", fgColor=_FILLS["header"])
    return cell


def _note_cell(ws, text: str, level: str):
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, PatternFill

    cell = WriteOnlyCell(ws, value=neutralise(text))
    cell.fill = PatternFill("solid", fgColor=_FILLS[level])
    cell.alignment = Alignment(wrap_text=True)
    return cell
