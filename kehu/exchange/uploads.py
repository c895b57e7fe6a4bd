"""Spreadsheets uploaded to the import wizard: private while an import needs them, deleted once it does not.

An upload is kept in KEHU_HOME/imports/<month>/<random>/<file name> (folders 0700, file 0600) only while the
wizard needs it: from the upload through mapping and preview to the import itself. It is deleted when the
import is committed (or fails), and when it is reverted. An upload nobody imported (the person left the
wizard) counts as abandoned after ABANDONED_AFTER and is swept at the next upload, `kehu backup` and
`kehu health`. A PIPL erase deletes every kept upload that mentions the person.

The web error report of a finished import therefore lists the problems (sheet, row, column, value, reason)
from the batch, not the rejected rows themselves: the original file is gone.
"""

import os
import shutil
import time
import uuid
from collections.abc import Iterable
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from .readers import UnreadableFile, read_workbook
from .values import cell_text

ABANDONED_AFTER = timedelta(hours=24)


def upload_root() -> Path:
    return Path(settings.KEHU_HOME) / "imports"


def _private_dir(path: Path) -> None:
    path.mkdir(mode=0o700, exist_ok=True)
    path.chmod(0o700)


def save_upload(upload) -> Path:
    """Write an uploaded file (Django UploadedFile) into a folder of its own, readable by the owner only."""
    root = upload_root()
    root.parent.mkdir(parents=True, exist_ok=True)
    month = root / timezone.localdate().strftime("%Y%m")
    folder = month / uuid.uuid4().hex
    for each in (root, month, folder):
        _private_dir(each)
    path = folder / Path(upload.name).name
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        for chunk in upload.chunks():
            f.write(chunk)
    return path


def _folder_of(path: Path) -> Path | None:
    """The upload's own folder (imports/<month>/<random>), or None for a path outside the upload root."""
    root = upload_root().resolve()
    try:
        relative = path.resolve().relative_to(root)
    except ValueError:
        return None
    return root / relative.parts[0] / relative.parts[1] if len(relative.parts) >= 3 else None


def discard(path: str | Path | None) -> bool:
    """Delete an upload and its folder; True if something was deleted. Paths outside the upload root are left."""
    if not path:
        return False
    folder = _folder_of(Path(path))
    if folder is None or not folder.exists():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    with_month = folder.parent
    if with_month.is_dir() and not any(with_month.iterdir()):
        with_month.rmdir()
    return True


def kept_uploads() -> list[Path]:
    """Every upload file still on disk."""
    root = upload_root()
    return sorted(p for p in root.glob("*/*/*") if p.is_file()) if root.is_dir() else []


def sweep(max_age: timedelta = ABANDONED_AFTER) -> list[Path]:
    """Delete uploads that are abandoned (older than `max_age`) or belong to a finished import; returns them."""
    from .models import ImportBatch

    finished = set(ImportBatch.objects.exclude(status=ImportBatch.Status.RUNNING).exclude(stored_file="")
                   .values_list("stored_file", flat=True))
    cutoff = time.time() - max_age.total_seconds()
    gone = []
    for path in kept_uploads():
        if str(path) in finished or path.stat().st_mtime < cutoff:
            discard(path)
            gone.append(path)
    return gone


def _cells(path: Path) -> Iterable[str]:
    for sheet in read_workbook(path):
        for cells in sheet.open_rows():
            for cell in cells:
                if text := cell_text(cell).strip():
                    yield text


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isdigit())


def discard_mentioning(values: Iterable[str]) -> list[Path]:
    """Delete every kept upload with a cell equal to one of `values` (a person's code, mobile, e-mail…).

    Mobiles are compared by their last 11 digits, so '138 1234 5678' and '+86 13812345678' match.
    """
    wanted = {v.strip().lower() for v in values if v and v.strip()}
    mobiles = {d[-11:] for d in map(_digits, wanted) if len(d) >= 11}
    gone = []
    for path in kept_uploads():
        try:
            found = any(cell.lower() in wanted or (mobiles and _digits(cell)[-11:] in mobiles)
                        for cell in _cells(path))
        except UnreadableFile:
            found = True  # cannot tell: it may mention the person
        if found:
            discard(path)
            gone.append(path)
    return gone
