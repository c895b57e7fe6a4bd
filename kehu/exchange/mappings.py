"""Saved column mappings (ImportTemplate): remember how a 淘宝/有赞/微店 export maps to kehu's fields."""

from .headers import KINDS, normalize_header
from .models import ImportTemplate
from .readers import Sheet


def sheet_entries(sheets: list[Sheet]) -> list[dict]:
    """What to save in a template: per recognised sheet its kind and {normalised header: field}."""
    return [{"kind": s.kind, "columns": {normalize_header(s.headers[i]): f for i, f in s.mapping.items()}}
            for s in sheets if s.kind and s.mapping]


def save_template(name: str, sheets: list[Sheet], user=None) -> ImportTemplate:
    template, _ = ImportTemplate.objects.update_or_create(
        name=name, defaults={"sheets": sheet_entries(sheets), "created_by": user})
    return template


def apply_template(template: ImportTemplate, sheets: list[Sheet]) -> None:
    """Give each sheet the kind and mapping of the template entry whose headers it shares most."""
    for sheet in sheets:
        normalised = [normalize_header(x) for x in sheet.headers]
        best, overlap = None, 0
        for entry in template.sheets:
            shared = sum(1 for x in normalised if x in entry.get("columns", {}))
            if shared > overlap:
                best, overlap = entry, shared
        if best is None or best.get("kind") not in KINDS:
            continue
        columns = best["columns"]
        mapping = {}
        for i, x in enumerate(normalised):
            if x in columns and columns[x] and columns[x] not in mapping.values():
                mapping[i] = columns[x]
        sheet.remap(best["kind"], mapping)
