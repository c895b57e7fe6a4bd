"""Spreadsheet cells that cannot run: every xlsx and CSV writer passes text through `neutralise()`.

A cell whose text starts with = + - @ (or a tab or carriage return) is a formula to Excel, LibreOffice and
WPS (CSV injection, "=HYPERLINK(...)"). Such text gets a leading apostrophe, the usual escape: the program
shows the text and runs nothing. Numbers, dates and empty cells pass unchanged, so a real −1 in a numeric
column stays a number.
"""

import re

from django.utils.functional import Promise

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Characters Excel refuses in a sheet name, and the 31-character limit.
_SHEET_FORBIDDEN = re.compile(r"[\[\]:*?/\\\x00-\x1f]")
SHEET_NAME_MAX = 31


def neutralise(value):
    """`value` as a cell may hold it: formula-like text escaped with a leading apostrophe, a lazy label as text,
    the rest as it is."""
    if isinstance(value, Promise):
        value = str(value)
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def restore(text: str) -> str:
    """What `neutralise` escaped, read back (an exported file imported again): "'=x" → "=x"."""
    if text.startswith("'") and text[1:].startswith(FORMULA_START):
        return text[1:]
    return text


def sheet_title(text: str, fallback: str = "Sheet") -> str:
    """A sheet name Excel accepts and that cannot be read as a formula (an apostrophe may not start one)."""
    title = _SHEET_FORBIDDEN.sub("", str(text)).lstrip("".join(FORMULA_START) + "' ").rstrip("'")[:SHEET_NAME_MAX]
    return title or fallback
