"""Saved column mappings (ImportTemplate): remember how a shop's own sheet maps to kehu's fields, and pass
it on as a file (template_json / load_template)."""

import json

from .headers import FIELDS, KINDS, normalize_header
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


TEMPLATE_FORMAT = "kehu-import-template"


def template_json(template: ImportTemplate) -> str:
    """A template as a file to keep or pass to another shop (read back by load_template)."""
    return json.dumps({"format": TEMPLATE_FORMAT, "version": 1, "name": template.name, "sheets": template.sheets},
                      ensure_ascii=False, indent=2)


def load_template(text: str | bytes, user=None) -> ImportTemplate:
    """Save a template file (template_json) under its name; ValueError with a Chinese message if it is not one."""
    try:
        data = json.loads(text)
    except (ValueError, UnicodeDecodeError):
        raise ValueError("不是导入模板文件（应为 kehu 导出的 .json 模板）") from None
    if not isinstance(data, dict) or data.get("format") != TEMPLATE_FORMAT or not isinstance(data.get("sheets"), list):
        raise ValueError("不是导入模板文件（应为 kehu 导出的 .json 模板）")
    name = str(data.get("name") or "").strip()[:60]
    if not name:
        raise ValueError("模板文件缺少名称")
    sheets = []
    for i, entry in enumerate(data["sheets"], start=1):
        kind = entry.get("kind") if isinstance(entry, dict) else None
        columns = entry.get("columns") if isinstance(entry, dict) else None
        if kind not in KINDS or not isinstance(columns, dict):
            raise ValueError(f"模板第 {i} 个工作表的内容类型无法识别")
        known = set(FIELDS[kind])
        unknown = [f for f in columns.values() if f not in known and not str(f).startswith(("cf_", "score_"))]
        if unknown:
            raise ValueError(f"模板第 {i} 个工作表有无法识别的字段：{'、'.join(map(str, unknown))}")
        sheets.append({"kind": kind, "columns": {normalize_header(k): v for k, v in columns.items()}})
    template, _ = ImportTemplate.objects.update_or_create(name=name, defaults={"sheets": sheets, "created_by": user})
    return template
