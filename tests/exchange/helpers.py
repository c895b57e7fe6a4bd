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


def write_zip_bomb(path: Path, inflated_mb: int, padding_mb: int = 0, declared_mb: int | None = None) -> Path:
    """An xlsx-shaped zip whose xl/sharedStrings.xml inflates to `inflated_mb` MiB of spaces, padded with
    `padding_mb` MiB of incompressible bytes (an image, as real workbooks have). `declared_mb` makes the zip lie
    about the inflated size. Written by hand: the deflate stream is one 1 MiB block repeated, so making a
    1.5 GB bomb costs a second, not the minute zlib would take to compress it."""
    import os
    import struct
    import zlib

    chunk = b" " * (1 << 20)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)
    block = deflate.compress(chunk) + deflate.flush(zlib.Z_FULL_FLUSH)  # after a full flush: the same bytes each time
    crc = 0
    for _ in range(inflated_mb):
        crc = zlib.crc32(chunk, crc)
    bomb = first + block * (inflated_mb - 1) + deflate.flush()
    small = {
        "[Content_Types].xml": b'<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/'
                               b'content-types"/>',
        "xl/workbook.xml": b'<?xml version="1.0"?><workbook/>',
    }
    entries = [(name, data, zlib.crc32(data), len(data), 0) for name, data in small.items()]
    if padding_mb:
        noise = os.urandom(padding_mb << 20)
        entries.append(("xl/media/image1.png", noise, zlib.crc32(noise), len(noise), 0))
    declared = (declared_mb if declared_mb is not None else inflated_mb) << 20
    entries.append(("xl/sharedStrings.xml", bomb, crc, declared, 8))
    central, offset = [], 0
    with open(path, "wb") as f:
        for name, data, entry_crc, size, method in entries:
            encoded = name.encode()
            header = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, method, 0, 0x21, entry_crc, len(data), size,
                                 len(encoded), 0)
            f.write(header + encoded + data)
            central.append(struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, method, 0, 0x21, entry_crc,
                                       len(data), size, len(encoded), 0, 0, 0, 0, 0, offset) + encoded)
            offset += len(header) + len(encoded) + len(data)
        directory = b"".join(central)
        f.write(directory)
        f.write(struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(entries), len(entries), len(directory), offset, 0))
    return path
