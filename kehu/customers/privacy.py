"""Personal-data requests under PIPL (个人信息保护法): export everything kept about one customer, or erase it.

Export walks every table that points at the customer (orders and their lines, preferences, consents,
communications, follow-ups, feedback and ratings, segment classes, merge records, and whatever other apps
add later), so nothing is forgotten when a model is added. Erase anonymises a customer with orders, so
revenue figures stay exactly as they were, and deletes outright a customer without orders; spreadsheets
still waiting in the import wizard that mention the person are deleted too.
"""

import datetime
import json
from dataclasses import dataclass
from decimal import Decimal
from urllib.parse import quote_plus

from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone

from kehu.accounts import audit
from kehu.lib import money
from kehu.lib.cells import neutralise, sheet_title
from kehu.lib.crypto import audit_hash
from kehu.lib.phones import national_digits

from .models import Customer, MergeRecord

ERASED_NAME = "已注销客户"

# Sent before a customer is erased, with its contact values normalised ([("mobile", "+86…"), …]): apps that
# keep filter strings (target lists) drop the ones that name the person.
erasing = Signal()


def _plain(value):
    """A field value as data a person can read (JSON and Excel)."""
    if isinstance(value, datetime.datetime):
        return timezone.localtime(value).replace(tzinfo=None) if timezone.is_aware(value) else value
    if isinstance(value, models.Model):
        return str(value)
    return value


# Fields whose model gives no Chinese name (Django's default is the field name in English).
FIELD_LABELS = {
    "id": "ID", "customer": "客户", "order": "订单", "category": "品类", "product": "商品", "communication": "沟通记录",
    "feedback": "反馈", "dimension": "评价维度", "created_by": "创建人", "created_at": "创建时间",
    "updated_at": "更新时间", "birthday_md": "生日（月日）", "user": "用户", "owner": "负责人",
    "recorded_by": "记录人", "merged_by": "合并人", "updated_by": "最后修改人",
}


def _label(f) -> str:
    """The field's Chinese name, an amount's with the shop's currency unit (金额（港元）)."""
    name = str(f.verbose_name)
    if name == f.name.replace("_", " "):  # no verbose_name given
        return FIELD_LABELS.get(f.name, name)
    return money.unit_label(name)


def _related_text(related: models.Model) -> str:
    """The related record as its own __str__ says it, else 沟通记录 #56 (never "Communication object (56)")."""
    if type(related).__str__ is models.Model.__str__:
        return f"{related._meta.verbose_name} #{related.pk}"
    return str(related)


def _row(obj: models.Model) -> dict:
    """A record as {Chinese label: value a person reads}: choices by their label (wechat_pay → 微信支付), yes/no."""
    row = {}
    for f in obj._meta.concrete_fields:
        if f.name.endswith("_hash"):
            continue
        value = getattr(obj, f.attname)
        if f.is_relation:
            row[_label(f)] = _related_text(getattr(obj, f.name)) if value is not None else ""
        elif f.choices and value not in (None, ""):
            row[_label(f)] = str(getattr(obj, f"get_{f.name}_display")())
        elif isinstance(value, bool):
            row[_label(f)] = "是" if value else "否"
        else:
            row[_label(f)] = _plain(value)
    return row


def _reverse_relations(model) -> list:
    """One-to-many and one-to-one relations pointing at `model` (hidden ones included)."""
    return [rel for rel in model._meta.related_objects if (rel.one_to_many or rel.one_to_one)]


def collect(customer: Customer) -> dict:
    """{"profile": {...}, "sections": {label: [rows]}}: everything kept about `customer`, decrypted."""
    profile = _row(customer)
    profile["标签"] = "、".join(t.name for t in customer.tags.all())
    sections: dict[str, list[dict]] = {}
    seen = {Customer}
    direct = _reverse_relations(Customer)
    for rel in direct:
        seen.add(rel.related_model)
    for rel in direct:
        model = rel.related_model
        qs = model._default_manager.filter(**{rel.field.name: customer}).order_by("pk")
        rows = [_row(obj) for obj in qs]
        if model is MergeRecord:
            for row, obj in zip(rows, qs, strict=True):
                row[str(MergeRecord._meta.get_field("snapshot").verbose_name)] = json.loads(obj.snapshot or "{}")
        if rows:
            sections.setdefault(str(model._meta.verbose_name_plural), []).extend(rows)
        # one level further: order lines of the orders, ratings of the feedback
        for child in _reverse_relations(model):
            if child.related_model in seen:
                continue
            rows = [_row(obj) for obj in child.related_model._default_manager.filter(
                **{f"{child.field.name}__in": qs}).order_by("pk")]
            if rows:
                sections.setdefault(str(child.related_model._meta.verbose_name_plural), []).extend(rows)
    return {"profile": profile, "sections": sections, "exported_at": timezone.now()}


def export_json(customer: Customer, out) -> None:
    data = collect(customer)

    def default(value):
        if isinstance(value, datetime.date | datetime.datetime):
            return value.isoformat()
        if isinstance(value, Decimal):
            return str(value)
        return str(value)

    out.write(json.dumps(data, ensure_ascii=False, indent=2, default=default).encode())


def export_xlsx(customer: Customer, out) -> None:
    """One sheet per kind of record; the first sheet is the profile, one field per row."""
    from openpyxl import Workbook
    from openpyxl.styles import Font

    data = collect(customer)
    wb = Workbook()
    ws = wb.active
    ws.title = "客户档案"
    ws.append(["字段", "值"])
    for key, value in data["profile"].items():
        _append(ws, [key, _cell(value)])
    used = {ws.title}
    for label, rows in data["sections"].items():
        title = sheet_title(label)
        n = 2
        while title in used:
            title = f"{sheet_title(label)[:28]}-{n}"
            n += 1
        used.add(title)
        sheet = wb.create_sheet(title)
        headers = list(dict.fromkeys(k for row in rows for k in row))
        _append(sheet, headers)
        for row in rows:
            _append(sheet, [_cell(row.get(h)) for h in headers])
    for sheet in wb.worksheets:
        for cell in sheet[1]:
            cell.font = Font(bold=True)
        sheet.freeze_panes = "A2"
        _fit_columns(sheet)
    wb.save(out)


def _fit_columns(sheet) -> None:
    """Each column as wide as its longest value (a Chinese character counts twice), between 8 and 60."""
    from openpyxl.utils import get_column_letter

    for i, column in enumerate(sheet.iter_cols(values_only=True), start=1):
        widest = max((sum(2 if ord(ch) > 0x2E80 else 1 for ch in _shown(v)) for v in column), default=0)
        sheet.column_dimensions[get_column_letter(i)].width = min(max(widest + 2, 8), 60)


def _shown(value) -> str:
    if isinstance(value, datetime.datetime):
        return f"{value:%Y-%m-%d %H:%M:%S}"
    return "" if value is None else str(value)


def _cell(value):
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, default=str)
    return value


def _append(sheet, values: list) -> None:
    sheet.append([neutralise(v) for v in values])  # text typed by a person, never a formula


def record_export(user, customer: Customer, fmt: str) -> None:
    audit.record(user, audit.AuditAction.PIPL_EXPORT, customer, {"format": fmt})


def contact_values(customer: Customer) -> list[tuple[str, str]]:
    """The customer's mobile, e-mail and WeChat ID, normalised as searches and the audit log see them."""
    values = [("mobile", customer.mobile), ("email", (customer.email or "").strip().lower()),
              ("wechat", (customer.wechat or "").strip().lower())]
    return [(field, value) for field, value in values if value]


def plaintexts(contacts: list[tuple[str, str]]) -> list[str]:
    """How the values may have been typed into a filter string: 13812345678, the e-mail, the WeChat ID,
    as typed and as a URL query string has them (%40 for @)."""
    texts = [national_digits(value) if field == "mobile" else value for field, value in contacts]
    return list(dict.fromkeys([*texts, *(quote_plus(t) for t in texts)]))


@dataclass
class EraseResult:
    code: str
    mode: str  # "anonymised" or "deleted"
    orders: int


def erased_name(code: str) -> str:
    return f"{ERASED_NAME} {code}"


@transaction.atomic
def erase(customer: Customer, user=None) -> EraseResult:
    """Erase a customer on request. With orders: anonymise (amounts and dates stay, so revenue is unchanged);
    without: delete the record and everything attached. The audit log keeps that it happened, not who it was."""
    from kehu.engagement.models import Communication, Consent, Feedback, FollowUp, Preference
    from kehu.exchange import exports, uploads
    from kehu.exchange.models import ImportChange
    from kehu.sales.models import Order

    customer = Customer.objects.select_for_update().get(pk=customer.pk)
    code, pk = customer.code, customer.pk
    # Spreadsheets still waiting in the import wizard may hold the person too: those go as well.
    uploads.discard_mentioning([code, customer.name, customer.mobile, customer.email, customer.wechat])
    exports.discard_all()  # written exports waiting for their download are encrypted: all of them go
    orders = Order.objects.filter(customer=customer).count()
    label = erased_name(code)
    merged_codes = list(MergeRecord.objects.filter(kept=customer).values_list("merged_code", flat=True))
    contacts = contact_values(customer)
    erasing.send(sender=Customer, customer=customer, values=contacts)
    with audit.suppressed():
        MergeRecord.objects.filter(kept=customer).delete()  # full profiles of merged duplicates
        ImportChange.objects.filter(model__iexact="customers.customer", object_id=pk).delete()
        if orders:
            Customer.objects.filter(pk=pk).update(
                name=label, gender="", birthday=None, birthday_md=None, age_band="", age_band_on=None,
                age_band_until=None, mobile="", email="", wechat="", address="",
                mobile_hash="", mobile_last4_hash="", email_hash="", wechat_hash="", province="", city="", district="",
                company="", notes="", extra={}, version=models.F("version") + 1, updated_at=timezone.now())
            customer.tags.clear()
            Order.objects.filter(customer_id=pk).update(note="")
            Communication.objects.filter(customer_id=pk).update(content="", outcome="")
            FollowUp.objects.filter(customer_id=pk).update(title=ERASED_NAME)
            Feedback.objects.filter(customer_id=pk).update(comment="")
            Preference.objects.filter(customer_id=pk).delete()
            Consent.objects.filter(customer_id=pk).delete()
            mode = "anonymised"
        else:
            customer.delete()
            mode = "deleted"
    audit.redact_customer(code, label)
    audit.redact_contact_values([audit_hash(value) for _, value in contacts], plaintexts(contacts))
    for merged in merged_codes:  # the duplicates merged into this customer were the same person
        audit.redact_customer(merged, erased_name(merged))
    audit.record(user, audit.AuditAction.ERASE, label, {"mode": mode, "orders": orders}, code=code)
    return EraseResult(code=code, mode=mode, orders=orders)
