"""Importing spreadsheets: every row validated the way the edit pages validate, nothing valid lost.

    result = import_file("客户.xlsx", user=alice, on_duplicate="update", dry_run=True)
    result.counts["customers"].new, result.problems

Customers go through CustomerForm one row at a time (new ones are written in bulk); purchases use
OrderForm's own fields and rules without a form per row and are written with bulk_create. A dry run runs
in one transaction and rolls it back, so its counts are exactly what a real run would do. A real run commits
in short transactions, so others keep working during a big import; what it created or changed is recorded
(ImportChange) with each commit, so `revert_batch` undoes the whole batch, or what a run stopped midway did.
"""

import contextlib
import copy
import datetime
import functools
import json
import logging
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from decimal import Decimal
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.utils import timezone, translation
from django.utils.translation import gettext

from kehu.accounts.audit import masked_value
from kehu.customers import probes
from kehu.customers.forms import CustomerForm
from kehu.customers.models import Customer, Tag, next_customer_codes
from kehu.customers.services import save_customer_form
from kehu.engagement.forms import CommunicationForm, FeedbackForm
from kehu.engagement.models import Communication, Consent, Feedback, FollowUp, Preference
from kehu.engagement.services import record_communication
from kehu.lib.crypto import blind_index
from kehu.lib.phones import InvalidMobile, LossyMobile, normalize_mobile
from kehu.sales.forms import clean_order_values
from kehu.sales.models import Category, Order, OrderLine, Product
from kehu.segments.pipeline import refresh_customers

from . import headers as h
from . import orders
from . import values as v
from .models import ImportBatch, ImportChange
from .readers import Sheet, read_workbook

log = logging.getLogger(__name__)
CHUNK = 2000
# Customer rows go through the edit form one by one (a few ms each): chunks small enough that a transaction
# holding them ends within a fraction of a second.
CUSTOMER_CHUNK = 100
CHUNK_SECONDS = 0.5  # a transaction of a real import is committed at the first chunk boundary after this long
COMMIT_PAUSE_SECONDS = 0.15
REFRESH_CHUNK = 1000  # customers whose metrics are refreshed per transaction
REVERT_CHUNK = 1000  # records deleted or restored per transaction by a revert
DUPLICATE_CHOICES = ("update", "skip", "create")
CONFLICT_CHOICES = ("error", "skip", "keep-code")  # same mobile, another code: see Importer._code_conflict
# A purchase naming a customer nobody has: "warn" creates it with a warning naming row and customer, "reject"
# rejects the row, "create" creates it and says how many in one note (`kehu analyze`, whose store starts empty).
UNKNOWN_CHOICES = ("warn", "reject", "create")
IDENTITY_FIELDS = ("code", "mobile", "email", "wechat")
# A problem in these rejects a customer row; in any other field it drops just that field, with a warning.
HARD_FIELDS = {"name", "registered_at", "code", "kind", "__all__"}
IDENTITY_LABELS = {"code": "客户编号", "mobile": "手机号码", "email": "电子邮箱", "wechat": "微信号", "name": "姓名"}


@dataclass
class Problem:
    sheet: str
    row: int
    column: str
    value: str
    message: str
    level: str = "error"  # "error": the row was not imported; "warning": imported, see message; "info": what was done

    @property
    def level_label(self) -> str:
        return {"error": gettext("错误"), "warning": gettext("警告")}.get(self.level) or gettext("说明")

    def __str__(self) -> str:
        where = f"{self.sheet} 第{self.row}行" + (f"【{self.column}】" if self.column else "")
        return f"{where} {self.message}"


@dataclass
class Counts:
    new: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    rejected: int = 0


@dataclass
class ImportResult:
    counts: dict[str, Counts]
    problems: list[Problem]
    sheets: list[Sheet]
    dry_run: bool
    batch: ImportBatch | None = None

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    @property
    def notes(self) -> list[Problem]:
        """What the import did beyond the counts: orders grouped, refunds netted, columns not imported."""
        return [p for p in self.problems if p.level == "info"]

    def total(self, key: str) -> int:
        return sum(getattr(c, key) for c in self.counts.values())

    def summary(self) -> str:
        """'客户信息：新增 3，更新 1，未变 0，拒绝 1' per sheet kind, one line each."""
        lines = []
        for kind in h.KIND_ORDER:
            if kind not in self.counts:
                continue
            c = self.counts[kind]
            text = f"{h.KINDS[kind]}：新增 {c.new}，更新 {c.updated}，未变 {c.unchanged}，拒绝 {c.rejected}"
            if c.skipped:
                text += f"，跳过重复 {c.skipped}"
            lines.append(text)
        lines.append(f"错误 {len(self.errors)} 条，警告 {len(self.warnings)} 条")
        lines.extend(f"说明（{p.sheet}）：{p.message}" for p in self.notes)
        return "\n".join(lines)


class Rejected(Exception):
    def __init__(self, problems: list[Problem]):
        self.problems = problems


@dataclass
class _Ref:
    """A customer seen in this file: its pk once written, and where it was first seen."""

    pk: int | None
    sheet: str
    row: int
    pending: Customer | None = None


@dataclass(slots=True)
class _Stored:
    """An order already in the database, as an import compares it with a file's order."""

    FIELDS = ("customer_id", "number", "ordered_at", "amount", "status", "payment_method", "sales_channel", "note")
    id: int
    customer_id: int
    number: str
    ordered_at: datetime.datetime
    amount: Decimal
    status: str
    payment_method: str
    sales_channel: str
    note: str


@dataclass
class _Pending:
    customer: Customer
    tags: list[str]
    ref: _Ref
    keys: list[tuple[str, str]] = field(default_factory=list)


def _customer_keys(values: dict) -> list[tuple[str, str]]:
    """(field, normalised value) identities of a customer: code, E.164 mobile, lower-case e-mail and WeChat."""
    keys = []
    if code := v.cell_text(values.get("code")):
        keys.append(("code", code))
    if values.get("mobile") not in (None, ""):
        with contextlib.suppress(InvalidMobile):
            keys.append(("mobile", normalize_mobile(values["mobile"])))
    for name in ("email", "wechat"):
        if text := v.cell_text(values.get(name)).lower():
            keys.append((name, text))
    return keys


class Importer:
    def __init__(self, sheets: list[Sheet], *, user=None, on_duplicate: str = "update", dry_run: bool = False,
                 file_name: str = "", stored_file: str = "", progress: Callable[[int], None] | None = None,
                 unknown_customers: str = "warn", on_conflict: str = "error"):
        if on_duplicate not in DUPLICATE_CHOICES:
            raise ValueError(f"on_duplicate must be one of {DUPLICATE_CHOICES}")
        if on_conflict not in CONFLICT_CHOICES:
            raise ValueError(f"on_conflict must be one of {CONFLICT_CHOICES}")
        if unknown_customers not in UNKNOWN_CHOICES:
            raise ValueError(f"unknown_customers must be one of {UNKNOWN_CHOICES}")
        self.on_conflict = on_conflict
        if user is not None and not user.can_edit_customers:
            raise PermissionDenied("只读用户不能导入数据")
        self.sheets = sheets
        self.user = user
        self.on_duplicate = on_duplicate
        self.dry_run = dry_run
        self.file_name = file_name
        self.stored_file = stored_file
        self._report = progress or (lambda n: None)
        self._chunk = None  # the transaction under way when importing in chunks
        self.unknown_customers = unknown_customers
        self.created_from_purchases = 0
        self.counts: dict[str, Counts] = {}
        self.problems: list[Problem] = []
        self.index: dict[tuple[str, str], _Ref] = {}
        self.pending: list[_Pending] = []
        self.created: dict[str, list[int]] = {}
        self.batch: ImportBatch | None = None
        self._owners: dict[str, int | None] = {}
        self._tag_names: set[str] | None = None  # the store's tags, read once per import
        self._names: dict[str, int | None] = {}
        self._products: dict[str, tuple[int, int | None]] = {}
        self._categories: dict[str, int] = {}
        self._tags: dict[str, int] = {}
        self._order_choices: dict[tuple[str, object], tuple[dict, dict]] = {}
        self._parse_memo: dict[str, dict] = {}
        self._absent: set[tuple[str, str]] = set()  # identities looked up in the database and not found
        self._row_customer_keys: set[tuple[str, str]] = set()  # customers of purchase rows already imported
        self.touched: set[int] = set()  # customers whose orders changed (their metrics are refreshed)

    # ── running ────────────────────────────────────────────────────────────────────────────────

    @property
    def customers(self):
        qs = Customer.objects.all()
        return qs.visible_to(self.user) if self.user is not None else qs

    def run(self) -> ImportResult:
        handlers = {
            h.CUSTOMERS: self._customer_sheet, h.PURCHASES: self._purchase_sheet,
            h.PREFERENCES: self._preference_sheet, h.COMMUNICATIONS: self._communication_sheet,
            h.FEEDBACK: self._feedback_sheet,
        }
        sheets = sorted((s for s in self.sheets if s.kind), key=lambda s: h.KIND_ORDER.index(s.kind))
        for s in self.sheets:
            if not s.kind:
                message = "未能识别这个工作表的内容（找不到表头），已跳过"
                self.problems.append(Problem(s.name, s.header_row, "", "", message, "warning"))
        # A dry run rolls back; the duplicate checks that hit colleagues' customers stay audited and counted.
        with probes.kept_through_rollback(), translation.override("zh-hans"):
            if self.dry_run:  # one transaction, rolled back: the counts are exactly what a real run would do
                with transaction.atomic():
                    self._start_batch()
                    self._import(sheets, handlers)
                    transaction.set_rollback(True)
            else:
                with transaction.atomic():  # committed at once: the batch shows as running
                    self._start_batch()
                self._import_in_chunks(sheets, handlers)
        return ImportResult(self.counts, self.problems, self.sheets, self.dry_run,
                            None if self.dry_run else self.batch)

    def _start_batch(self) -> None:
        self.batch = ImportBatch.objects.create(
            file_name=self.file_name[:255], stored_file=self.stored_file, on_duplicate=self.on_duplicate,
            user=self.user if self.user is not None and self.user.pk else None)

    def _import(self, sheets: list[Sheet], handlers: dict) -> None:
        self.max_order_id = Order.objects.order_by("-id").values_list("id", flat=True).first() or 0
        for sheet in sheets:
            self.counts.setdefault(sheet.kind, Counts())
            handlers[sheet.kind](sheet)
            self._unmapped_note(sheet)
            self._flush_customers()
        self._save_changes()
        self._refresh_touched()
        self._finish_batch(ImportBatch.Status.DONE)

    def _finish_batch(self, status: str) -> None:
        self.batch.counts = {k: asdict(c) for k, c in self.counts.items()}
        self.batch.problems = self._stored_problems()
        self.batch.status = status
        self.batch.finished_at = timezone.now()
        self.batch.save()

    def _refresh_touched(self) -> None:
        """Orders were written in bulk, past the signals that keep customer metrics current: refresh them."""
        ids = sorted(self.touched)
        for start in range(0, len(ids), REFRESH_CHUNK):
            with transaction.atomic():
                refresh_customers(ids[start:start + REFRESH_CHUNK])
            self._commit()

    # ── short transactions ─────────────────────────────────────────────────────────────────────
    # A big import must not hold the store for minutes (on SQLite every other writer waits for it). It commits
    # at chunk boundaries (see `progress`) once a transaction has run CHUNK_SECONDS. What a chunk created or
    # changed is recorded (ImportChange) in the chunk's own transaction, so the batch stays one unit for
    # `revert_batch`. A run that stops midway marks its batch incomplete; one whose process dies leaves it
    # running without a heartbeat, which ImportBatch.interrupted reads as incomplete. Either can be reverted.

    def _import_in_chunks(self, sheets: list[Sheet], handlers: dict) -> None:
        self._open_chunk()
        try:
            self._import(sheets, handlers)
            chunk, self._chunk = self._chunk, None
            chunk.__exit__(None, None, None)
        except BaseException as exc:
            chunk, self._chunk = self._chunk, None
            if chunk is not None:
                chunk.__exit__(type(exc), exc, exc.__traceback__)  # the chunk under way is rolled back
            self._mark_incomplete(exc)
            raise

    def _open_chunk(self) -> None:
        self._chunk = transaction.atomic()
        self._chunk.__enter__()
        self._chunk_started = time.monotonic()

    def progress(self, rows: int) -> None:
        """A chunk of rows is done: commit it if its transaction has run long enough, then report."""
        # Only at the outermost level: never inside a block of the handler's own (a savepoint).
        outermost = connection.atomic_blocks and connection.atomic_blocks[-1] is self._chunk
        if self._chunk is not None and outermost and time.monotonic() - self._chunk_started >= CHUNK_SECONDS:
            self._commit()
        self._report(rows)

    def _commit(self) -> None:
        """End the current transaction with what it did recorded, and start the next (no-op in a dry run)."""
        if self._chunk is None:
            return
        self._flush_customers()
        self._save_changes()
        ImportBatch.objects.filter(pk=self.batch.pk).update(heartbeat_at=timezone.now())
        chunk, self._chunk = self._chunk, None
        chunk.__exit__(None, None, None)
        _let_others_write()
        self._open_chunk()

    def _mark_incomplete(self, exc: BaseException) -> None:
        try:
            with transaction.atomic():
                if not ImportBatch.objects.filter(pk=self.batch.pk).exists():
                    return
                self._finish_batch(ImportBatch.Status.INCOMPLETE)
            self._refresh_touched()  # orders of the committed chunks count in their customers' metrics
        except Exception:
            log.exception("could not mark import #%s incomplete", self.batch.pk)
        exc.add_note(f"导入 #{self.batch.pk} 未完成：已提交的部分可用 kehu import --revert {self.batch.pk} 撤销"
                     f"（Import #{self.batch.pk} is incomplete: revert what was committed with "
                     f"kehu import --revert {self.batch.pk}）")

    def _unmapped_note(self, sheet: Sheet) -> None:
        """Every column the file has and the import leaves aside is named, none dropped silently."""
        left = [text for i, text in enumerate(sheet.headers) if text and i not in sheet.mapping]
        if left:
            self.problems.append(Problem(sheet.name, 0, "", "", f"以下 {len(left)} 列未导入：" + "、".join(left),
                                         "info"))

    def _created(self, model: type, ids: Iterable[int]) -> None:
        self.created.setdefault(model._meta.label, []).extend(ids)

    def _save_changes(self) -> None:
        """Record what was created since the last call (one change per kind of record and call)."""
        changes = []
        for label, ids in self.created.items():
            changes.append(ImportChange(batch=self.batch, model=label, action=ImportChange.Action.CREATE,
                                        id_ranges=_ranges(ids)))
        ImportChange.objects.bulk_create(changes)
        self.created = {}

    def _updated(self, obj, old_values: dict) -> None:
        change = ImportChange(batch=self.batch, model=obj._meta.label, action=ImportChange.Action.UPDATE,
                              object_id=obj.pk)
        change.old_values = old_values
        change.save()

    def _stored_problems(self) -> list[dict]:
        """The problems as the batch keeps them: a contact value (a bad or duplicate mobile…) masked."""
        contact = {(s.name, s.column_label(key)): key for s in self.sheets for key in Customer.CONTACT_FIELDS}
        stored = []
        for p in self.problems:
            row = asdict(p)
            if key := contact.get((p.sheet, p.column)):
                row["value"] = masked_value(key, p.value)
            stored.append(row)
        return stored

    def _problem(self, sheet: Sheet, row: int, field_key: str, value: object, message: str,
                 level: str = "error") -> Problem:
        column = sheet.column_label(field_key) if field_key else ""
        return Problem(sheet.name, row, column, v.cell_text(value), message, level)

    def _unmatched(self, sheet: Sheet, number: int, field_key: str, raw: object, exc: v.BadValue,
                   instead: str = "空") -> Problem:
        """A word no table knows (words.py): the field is left empty (or 其他), the row imported, the raw value kept."""
        return self._problem(sheet, number, field_key, raw, f"{exc}，该项留{instead}，本行其余内容已导入", "warning")

    def _reject(self, sheet: Sheet, problems: list[Problem]) -> None:
        self.counts[sheet.kind].rejected += 1
        self.problems.extend(problems)

    # ── customers ──────────────────────────────────────────────────────────────────────────────

    def _find_customer(self, keys: list[tuple[str, str]]) -> tuple[_Ref | None, str]:
        """The customer these identities name: first one seen earlier in this file, else in the database."""
        for key in keys:
            if key in self.index:
                return self.index[key], key[0]
        for field_key, value in keys:
            if (field_key, value) in self._absent:
                continue
            qs = self.customers
            if field_key == "code":
                qs = qs.filter(code=value)
            else:
                qs = qs.filter(**{f"{field_key}_hash": blind_index(value)})
            pk = qs.values_list("pk", flat=True).first()
            if pk:
                return _Ref(pk, "", 0), field_key
        return None, ""

    def _owner_pk(self, text: str) -> int | None:
        if text not in self._owners:
            users = list(get_user_model().objects.filter(is_active=True))
            match = [u.pk for u in users if text in (u.username, u.display_name, u.get_full_name())]
            self._owners[text] = match[0] if match else None
        return self._owners[text]

    def _tag_list(self, raw: object) -> list[str]:
        """Tags as a cell lists them: 、 , ; separate them, and so does a space, except inside a tag the store already
        has — an export writes "VIP、Tea lover" (English: "VIP, Tea lover") and reads back the same two tags."""
        if self._tag_names is None:
            self._tag_names = set(Tag.objects.values_list("name", flat=True))
        names: list[str] = []
        for item in v.parse_list(raw, spaces=False):
            names.extend([item] if item in self._tag_names else v.parse_list(item))
        return list(dict.fromkeys(names))

    def _customer_value(self, key: str, raw: object) -> object:
        if key in ("birthday",) or (key.startswith("cf_") and isinstance(raw, datetime.date)):
            return v.parse_date(raw).isoformat()
        if key == "registered_at":
            return v.parse_datetime(raw)
        if key == "gender":
            return v.parse_gender(raw)
        if key == "kind":
            return v.parse_customer_kind(raw)
        if key == "company_size":
            return v.parse_company_size(raw)
        if key == "province":
            return v.parse_province(raw)
        if key == "city":
            return v.parse_city(raw)
        if key == "grade":
            return v.parse_grade(raw)
        if key == "tag_names":
            return self._tag_list(raw)
        if key == "mobile":
            try:
                normalize_mobile(raw)
            except LossyMobile as exc:
                raise v.LostDigits(str(exc)) from None
            except InvalidMobile:
                pass  # the form says what is wrong with it
            return raw if isinstance(raw, int | float) else v.cell_text(raw)
        if key == "owner":
            text = v.cell_text(raw)
            pk = self._owner_pk(text)
            if pk is None:
                raise v.BadValue(f"找不到用户“{text}”")
            return pk
        return v.cell_text(raw)

    def _customer_sheet(self, sheet: Sheet) -> None:
        chunk: list[tuple[int, dict]] = []

        def flush():
            self._resolve_many([r for _, r in chunk])  # who is already in the database, in a few queries
            for number, record in chunk:
                try:
                    self._customer_row(sheet, number, record)
                except Rejected as exc:
                    self._reject(sheet, exc.problems)
            self.progress(len(chunk))

        for number, record, _ in sheet.records():
            chunk.append((number, record))
            if len(chunk) >= CUSTOMER_CHUNK:
                flush()
                chunk = []
        if chunk:
            flush()

    def _customer_row(self, sheet: Sheet, number: int, record: dict, kind: str | None = None) -> None:
        counts = self.counts.setdefault(kind or sheet.kind, Counts())
        warnings: list[Problem] = []
        data: dict[str, object] = {}
        for key, raw in record.items():
            try:
                data[key] = self._customer_value(key, raw)
            except v.BadValue as exc:
                if key in HARD_FIELDS or isinstance(exc, v.LostDigits):
                    raise Rejected([self._problem(sheet, number, key, raw, str(exc))]) from None
                warnings.append(self._problem(sheet, number, key, raw, f"{exc}（该项未导入）", "warning"))
        keys = _customer_keys(data)
        ref, matched_by = self._find_customer(keys)
        if ref is not None and self.on_duplicate != "create" and not self._code_conflict(
                sheet, number, record, data, ref, matched_by, warnings):
            counts.skipped += 1
            self.problems.extend(warnings)
            return
        if ref is not None and ref.row and ref.sheet:
            same = f"与“{ref.sheet}”第{ref.row}行是同一客户（{IDENTITY_LABELS[matched_by]}相同）"
            if self.on_duplicate != "create":
                action = "已合并" if self.on_duplicate == "update" else "已跳过"
                warnings.append(self._problem(sheet, number, matched_by, record.get(matched_by), f"{same}，{action}",
                                              "warning"))
        if ref is not None and self.on_duplicate == "skip":
            counts.skipped += 1
            self.problems.extend(warnings)
            return
        if ref is not None and ref.pk is None:
            self._flush_customers()
        if self.on_duplicate == "create":
            if ref is not None and ref.row:
                self._flush_customers()
            ref = None
        if ref is None and not data.get("name"):
            raise Rejected([self._problem(sheet, number, "name", "", "缺少姓名（新客户必须填写姓名）"), *warnings])
        instance = Customer.objects.get(pk=ref.pk) if ref is not None else Customer()
        base = self._form_values(instance) if ref is not None else {"kind": "person",
                                                                   "registered_at": timezone.now()}
        form_data = {**base, **data}
        if ref is not None and "registered_at" in data and v.same_time(
                instance.registered_at, data["registered_at"], v.time_precision(record["registered_at"])):
            form_data["registered_at"] = instance.registered_at  # the same time, as precisely as the file says it
        original = copy.copy(instance)  # validation writes the new values onto `instance`
        dropped: set[str] = set()
        while True:
            form = CustomerForm(data=form_data, instance=instance, user=self.user)
            if form.is_valid():
                break
            bad = set(form.errors)
            code_taken = ref is None and "code" in bad and self.on_duplicate == "create"
            if bad & HARD_FIELDS - ({"code"} if code_taken else set()) or bad <= dropped:
                problems = [self._problem(sheet, number, f if f in record else "", record.get(f, ""), msg)
                            for f, msgs in form.errors.items() for msg in msgs]
                raise Rejected(problems + warnings)
            for f in sorted(bad - dropped):
                msg = form.errors[f][0]
                note = "（已自动生成新编号）" if f == "code" and ref is None else "（该项未导入）"
                warnings.append(self._problem(sheet, number, f, record.get(f, ""), msg + note, "warning"))
                if f in base:
                    form_data[f] = base[f]
                else:
                    form_data.pop(f, None)
                dropped.add(f)
        self.problems.extend(warnings)
        if ref is None:
            customer = form.save(commit=False)
            ref = _Ref(None, sheet.name, number, pending=customer)
            self.pending.append(_Pending(customer, form.cleaned_data.get("tag_names", []), ref))
            counts.new += 1
        else:
            old = _changed_values(original, form)
            if old:
                save_customer_form(form, expected_version=instance.version)
                self._updated(instance, old)
                counts.updated += 1
            else:
                counts.unchanged += 1
            if not ref.row:
                ref = _Ref(instance.pk, sheet.name, number)
        cleaned = form.cleaned_data
        for key in _customer_keys({k: cleaned.get(k) for k in IDENTITY_FIELDS}):
            if key not in self.index or not self.index[key].row:  # the file's first row wins over the database
                self.index[key] = ref

    def _code_conflict(self, sheet: Sheet, number: int, record: dict, data: dict, ref: _Ref, matched_by: str,
                       warnings: list[Problem]) -> bool:
        """A row found by its mobile (e-mail, WeChat) whose explicit code differs from that customer's: never a
        rename. Reported naming both rows; on_conflict says what happens: "error" rejects the row, "skip" leaves
        it out, "keep-code" merges it into the customer, whose code stays. False: the row is left out."""
        code = v.cell_text(data.get("code"))
        if matched_by == "code" or not code:
            return True
        if ref.pending is not None:
            existing = ref.pending.code
        else:
            existing = Customer.objects.filter(pk=ref.pk).values_list("code", flat=True).first() or ""
        if not existing or existing == code:
            return True
        if ref.row:
            other = f"与“{ref.sheet}”第{ref.row}行（客户编号 {existing}）"
        else:  # found among the customers this user may see (self.customers), so it may be named
            name = Customer.objects.filter(pk=ref.pk).values_list("name", flat=True).first()
            other = f"与已有客户“{name}”（客户编号 {existing}）"
        same = f"{other}{IDENTITY_LABELS[matched_by]}相同，但客户编号不同（本行为 {code}）"
        if self.on_conflict == "error":
            raise Rejected([self._problem(sheet, number, "code", record.get("code"), f"编号冲突：{same}，本行未导入"
                                          "（可选择跳过，或合并到该客户并保留其编号）"), *warnings])
        if self.on_conflict == "skip":
            warnings.append(self._problem(sheet, number, "code", record.get("code"), f"编号冲突：{same}，已跳过本行",
                                          "warning"))
            return False
        data["code"] = existing
        self.index.setdefault(("code", code), ref)  # the file's other rows naming this code mean this customer
        warnings.append(self._problem(sheet, number, "code", record.get("code"),
                                      f"编号冲突：{same}，已合并到该客户并保留其编号 {existing}", "warning"))
        return True

    def _purchase_conflict(self, sheet: Sheet, number: int, record: dict, key: tuple[str, str]) -> None:
        """A row of another sheet whose code is unknown but whose mobile (e-mail, WeChat) is a customer's:
        with keep-code its rows go to that customer (said once per code), otherwise the row is rejected."""
        code = v.cell_text(record.get("code"))
        ref = self.index[key]
        if ref.row:
            other = f"“{ref.sheet}”第{ref.row}行的客户"
        else:
            other = "已有客户“{}”（客户编号 {}）".format(
                *Customer.objects.filter(pk=ref.pk).values_list("name", "code").first())
        same = f"编号冲突：{IDENTITY_LABELS[key[0]]}属于{other}，但本行客户编号为 {code}"
        if self.on_conflict != "keep-code":
            raise Rejected([self._problem(sheet, number, "code", code, f"{same}，本行未导入"
                                          "（可选择合并到该客户并保留其编号）")])
        self.index[("code", code)] = ref
        self.problems.append(self._problem(sheet, number, "code", code, f"{same}，已计入该客户", "warning"))

    def _unknown_customer(self, sheet: Sheet, number: int, record: dict, keys: list[tuple[str, str]]) -> int:
        """A purchase row naming a customer nobody has, with no customer columns: the customer is created and
        the row says so — or, as unknown_customers says, one note says how many, or the row is rejected."""
        field_key = keys[0][0]
        if self.unknown_customers == "reject":
            raise Rejected([self._problem(sheet, number, field_key, record.get(field_key),
                                          f"找不到该客户（{IDENTITY_LABELS[field_key]}不存在），请先导入客户信息")])
        identity = {k: record[k] for k in (*IDENTITY_FIELDS, "name") if k in record}
        identity.setdefault("name", v.cell_text(record.get("code")) or v.cell_text(identity[field_key]))
        self._customer_row(sheet, number, identity, kind=h.CUSTOMERS)
        self._flush_customers()
        ref = self.index[_customer_keys(identity)[0]]
        self.created_from_purchases += 1
        if self.unknown_customers == "create":
            return ref.pk
        code = Customer.objects.filter(pk=ref.pk).values_list("code", flat=True).first()
        self.problems.append(self._problem(
            sheet, number, field_key, record.get(field_key),
            f"找不到该客户（{IDENTITY_LABELS[field_key]}不存在），已新建客户“{identity['name']}”（客户编号 {code}）",
            "warning"))
        return ref.pk

    def _form_values(self, instance: Customer) -> dict:
        """The edit form's initial values for an existing customer: what is kept where the file is silent."""
        form = CustomerForm(instance=instance, user=self.user)
        values = {}
        for name in form.fields:
            value = form[name].value()
            if value not in (None, ""):
                values[name] = value
        return values

    def _flush_customers(self) -> None:
        if not self.pending:
            return
        pending, self.pending = self.pending, []
        customers = [p.customer for p in pending]
        need = [c for c in customers if not c.code]
        for c, code in zip(need, next_customer_codes(len(need)) if need else [], strict=True):
            c.code = code
        for c in customers:
            c.refresh_search_hashes()
            c.refresh_age_band()
            self._names.pop(c.name, None)  # "nobody by that name" was true before this import, no longer
        Customer.objects.bulk_create(customers, batch_size=500)
        self._created(Customer, [c.pk for c in customers])
        links = []
        Through = Customer.tags.through
        for p in pending:
            p.ref.pk, p.ref.pending = p.customer.pk, None
            for name in p.tags:
                links.append(Through(customer_id=p.customer.pk, tag_id=self._tag_id(name)))
        Through.objects.bulk_create(links, batch_size=1000)

    def _tag_id(self, name: str) -> int:
        if name not in self._tags:
            tag, created = Tag.objects.get_or_create(name=name)
            if created:
                self._created(Tag, [tag.pk])
            self._tags[name] = tag.pk
        return self._tags[name]

    # ── resolving the customer on other sheets ────────────────────────────────────────────────

    def _resolve_many(self, records: list[dict]) -> None:
        """Look up, in a few queries, every customer identity named in a chunk that is not known yet."""
        wanted: dict[str, set[str]] = {f: set() for f in IDENTITY_FIELDS}
        names: set[str] = set()
        for record in records:
            keys = record["__keys"] = _customer_keys(record)
            for key in keys:
                if key not in self.index:
                    wanted[key[0]].add(key[1])
            if not keys and (name := v.cell_text(record.get("name"))) and name not in self._names:
                names.add(name)
        self._absent.update((f, value) for f, values in wanted.items() for value in values)
        if wanted["code"]:
            for code, pk in self.customers.filter(code__in=wanted["code"]).values_list("code", "pk"):
                self.index[("code", code)] = _Ref(pk, "", 0)
        for f in ("mobile", "email", "wechat"):
            if not wanted[f]:
                continue
            hashes = {blind_index(value): value for value in wanted[f]}
            rows = self.customers.filter(**{f"{f}_hash__in": list(hashes)}).values_list(f"{f}_hash", "pk")
            for digest, pk in rows:
                self.index.setdefault((f, hashes[digest]), _Ref(pk, "", 0))
        if names:
            found: dict[str, list[int]] = {}
            for name, pk in self.customers.filter(name__in=names).values_list("name", "pk"):
                found.setdefault(name, []).append(pk)
            for name in names:
                pks = found.get(name, [])
                self._names[name] = pks[0] if len(pks) == 1 else (-len(pks) if pks else None)

    def _customer_pk(self, sheet: Sheet, number: int, record: dict) -> int:
        """The customer a purchase, preference, communication or feedback row names; Rejected if unknown."""
        keys = record["__keys"] if "__keys" in record else _customer_keys(record)
        for key in keys:
            if key in self.index:
                if keys[0][0] == "code" and key[0] != "code":  # its code is nobody's, its mobile someone's
                    self._purchase_conflict(sheet, number, record, key)
                return self.index[key].pk
        if keys and sheet.kind == h.PURCHASES:
            return self._unknown_customer(sheet, number, record, keys)
        if keys:
            field_key, _ = keys[0]
            raise Rejected([self._problem(sheet, number, field_key, record.get(field_key),
                                          f"找不到该客户（{IDENTITY_LABELS[field_key]}不存在），请先导入客户信息")])
        name = v.cell_text(record.get("name"))
        if not name:
            message = "缺少客户编号、手机号、邮箱或微信号，无法确定是哪位客户"
            raise Rejected([self._problem(sheet, number, "", "", message)])
        pk = self._names.get(name)
        if pk is None:
            raise Rejected([self._problem(sheet, number, "name", name, "找不到该客户（没有叫这个名字的客户）")])
        if pk < 0:
            raise Rejected([self._problem(sheet, number, "name", name,
                                          f"有 {-pk} 位客户同名，请填写客户编号或手机号以区分")])
        return pk

    # ── purchases ──────────────────────────────────────────────────────────────────────────────

    def _purchase_sheet(self, sheet: Sheet) -> None:
        self._numbered_orders: dict[tuple[int, str], list[_Stored]] = {}
        self._customer_orders: dict[int, list[_Stored]] = {}
        self._matched_orders: set[int] = set()
        self._fetched_customers: set[int] = set()
        mapped = set(sheet.mapping.values())  # what the file says of an order it has; the rest stays as stored
        self._order_fields = ["amount", *(f for f in ("payment_method", "sales_channel", "note") if f in mapped),
                              *(["status"] if mapped & {"status", "refund"} else [])]
        sheet.masked_rows = []
        tally = orders.Tally()
        for groups in orders.chunks(sheet, CHUNK):  # whole orders, never split between chunks
            self._purchase_chunk(sheet, groups, tally)
            self.progress(sum(len(g) for g in groups))
        notes = tally.notes(orders.has_order_numbers(sheet))
        if sheet.profile is not None:
            notes.insert(0, f"识别为“{sheet.profile.name}”订单导出，按其列含义导入")
        if self.created_from_purchases and self.unknown_customers == "create":
            notes.append(f"按消费记录新建客户 {self.created_from_purchases} 位（文件中没有他们的客户信息）")
            self.created_from_purchases = 0
        if sheet.masked_rows:
            notes.append(f"{len(set(sheet.masked_rows))} 行的手机号已脱敏（如 158****7475），"
                         "未作为手机号导入，也不用来识别客户")
        self.problems.extend(Problem(sheet.name, 0, "", "", note, "info") for note in notes)

    def _parsed(self, key: str, parse, raw):
        """parse(raw), remembered per distinct cell value (dates and choices repeat across rows)."""
        memo = self._parse_memo.setdefault(key, {})
        try:
            found = memo[raw]
        except KeyError:
            try:
                found = parse(raw)
            except v.BadValue as exc:
                found = exc
            if len(memo) > 100_000:
                memo.clear()
            memo[raw] = found
        except TypeError:  # unhashable cell value
            return parse(raw)
        if isinstance(found, v.BadValue):
            raise found
        return found

    def _purchase_line(self, sheet: Sheet, number: int, record: dict) -> tuple[orders.Line, dict, list[Problem]]:
        """One row read: the order line, the order-level values it carries, and what could not be read."""
        problems = []
        values: dict[str, object] = {"payment_method": "other", "note": v.cell_text(record.get("note"))[:200],
                                     "sales_channel": sheet.profile.sales_channel if sheet.profile else "other"}
        parsers = {"payment_method": v.parse_payment_method, "sales_channel": v.parse_sales_channel}
        for key, parse in parsers.items():
            if key in record:
                try:
                    values[key] = self._parsed(key, parse, record[key])
                except v.BadValue as exc:  # an unknown word: 其他, and the rest of the row imported
                    self.problems.append(self._unmatched(sheet, number, key, record[key], exc, "“其他”"))
        when = "ordered_at" if "ordered_at" in record else "created_at"  # 付款时间 before 创建时间
        if when in record:
            try:
                values["ordered_at"] = self._parsed("ordered_at", v.parse_datetime, record[when])
                values["precision"] = self._parsed("precision", v.time_precision, record[when])
            except v.BadValue as exc:
                problems.append(self._problem(sheet, number, when, record[when], str(exc)))
        line = orders.Line(status=v.cell_text(record.get("status")),
                           items=[n[:100] for n in v.parse_list(record.get("product"), spaces=False)],
                           category=v.cell_text(record.get("category"))[:50],
                           unpaid="ordered_at" in sheet.mapping.values() and "ordered_at" not in record)
        for key in ("quantity", "unit_price", "amount", "refund"):
            if key in record:
                try:
                    setattr(line, key, v.parse_number(record[key], h.LABELS[key]))
                except v.BadValue as exc:
                    problems.append(self._problem(sheet, number, key, record[key], str(exc)))
        return line, values, problems

    def _counted(self, sheet: Sheet, text: str) -> bool | None:
        """Whether an order with this status is a purchase (None: a status nobody knows)."""
        if sheet.profile is not None and (known := sheet.profile.status(text)) is not None:
            return known
        try:
            return self._parsed("status", v.parse_order_status, text) == "completed"
        except v.BadValue:
            return None

    def _order_values(self, sheet: Sheet, group: list[tuple[int, dict]], read: list, combined: orders.Combined,
                      number: str) -> dict:
        """The order's cleaned values (OrderForm's rules), from its first dated line."""
        row, record = group[0]
        first = next((values for _, values, _ in read if "ordered_at" in values), None)
        if first is None:
            raise Rejected([self._problem(sheet, row, "ordered_at", "", "缺少消费日期")])
        values = {**first, "status": combined.status, "amount": combined.amount,
                  "number": number[:40] or v.cell_text(record.get("number"))[:40]}
        cleaned, errors = clean_order_values({k: values[k] for k in ("amount", "number", "note")})
        # Dates and choices repeat across rows: each distinct value is cleaned once, by the same function.
        for key in ("ordered_at", "payment_method", "sales_channel", "status"):
            memo = self._order_choices.get((key, values[key]))
            if memo is None:
                if len(self._order_choices) > 100_000:
                    self._order_choices.clear()
                memo = self._order_choices[(key, values[key])] = clean_order_values({key: values[key]})
            cleaned.update(memo[0])
            errors.update(memo[1])
        if errors:
            raise Rejected([self._problem(sheet, row, k, record.get(k, values.get(k)), msg)
                            for k, msg in errors.items()])
        cleaned["lines"] = combined.lines
        cleaned["precision"] = first["precision"]
        return cleaned

    def _row_customers(self, sheet: Sheet, groups: list[list[tuple[int, dict]]]) -> None:
        """A purchase row that also describes its customer (ledger, platform export) imports the customer
        too, once per customer in the file (again when a later row names it by a new key, such as the phone
        an earlier row had masked); then the chunk's new customers are written."""
        fields = (*IDENTITY_FIELDS, "name", *h.ROW_CUSTOMER_FIELDS)
        for group in groups:
            for number, record in group:
                keys = record["__keys"]
                if not keys or all(k in self._row_customer_keys for k in keys):
                    continue  # seen already: a later row adds to the customer only when it brings a new key
                self._row_customer_keys.update(keys)
                customer = {k: record[k] for k in fields if k in record}
                customer.setdefault("name", v.cell_text(record.get("code")) or keys[0][1])
                try:
                    self._customer_row(sheet, number, customer, kind=h.CUSTOMERS)
                except Rejected as exc:
                    self.counts[h.CUSTOMERS].rejected += 1
                    self.problems.extend(exc.problems)
        self._flush_customers()

    def _purchase_chunk(self, sheet: Sheet, groups: list[list[tuple[int, dict]]], tally: orders.Tally) -> None:
        counts = self.counts[sheet.kind]
        profile = sheet.profile
        records = [record for group in groups for _, record in group]
        if profile is not None and profile.fallback_key:  # no buyer ID, no usable phone: receiver + address
            for record in records:
                if not _customer_keys(record) and (code := orders.fallback_code(profile, record)):
                    record["code"] = code
        self._resolve_many(records)
        if profile is not None or set(sheet.mapping.values()) & set(h.ROW_CUSTOMER_FIELDS):
            self.counts.setdefault(h.CUSTOMERS, Counts())
            self._row_customers(sheet, groups)
        rows = []
        for group in groups:
            key = orders.order_key(group[0][1])
            owner = next(((n, r) for n, r in group if r["__keys"] or r.get("name")), None)
            if owner is None and profile is not None:
                tally.anonymous += len(group)
                continue
            tally.rows += len(group)
            tally.orders += 1
            read = [self._purchase_line(sheet, n, r) for n, r in group]
            combined = orders.combine(key, [line for line, _, _ in read], profile, lambda t: self._counted(sheet, t))
            if not combined.status:
                tally.left_out += 1
                continue
            try:
                if problems := [p for _, _, found in read for p in found]:
                    raise Rejected(problems)
                values = self._order_values(sheet, group, read, combined, key)
                values["customer_id"] = self._customer_pk(sheet, *(owner or group[0]))
            except Rejected as exc:
                self._reject(sheet, exc.problems)
                continue
            tally.count(key, combined)
            rows.append(values)
        self._load_existing_orders({r["customer_id"] for r in rows})
        new = []
        for r in rows:
            stored = self._stored_order(r)
            if stored is None:
                new.append(r)
                continue
            self._matched_orders.add(stored.id)
            if self._update_order(stored, r):
                counts.updated += 1
            else:
                counts.unchanged += 1
        counts.new += len(new)
        self._write_orders(new)

    def _load_existing_orders(self, customer_ids: set[int]) -> None:
        """Orders already in the database (before this import) of customers not looked at yet."""
        todo = list(customer_ids - self._fetched_customers)
        self._fetched_customers.update(todo)
        for i in range(0, len(todo), 500):
            rows = Order.objects.filter(customer_id__in=todo[i:i + 500], id__lte=self.max_order_id).order_by(
                "id").values_list("id", *_Stored.FIELDS)
            for row in rows:
                stored = _Stored(*row)
                self._customer_orders.setdefault(stored.customer_id, []).append(stored)
                if stored.number:
                    self._numbered_orders.setdefault((stored.customer_id, stored.number), []).append(stored)

    def _stored_order(self, row: dict) -> _Stored | None:
        """The order already stored that a file's order is: the same number for the same customer (whatever
        else changed); else one of the same time (as precisely as the file gives it) and amount, where the file
        or the stored order has no number."""
        number = row["number"]
        if number:
            found = self._numbered_orders.get((row["customer_id"], number), [])
            if match := next((o for o in found if o.id not in self._matched_orders), None):
                return match
        return next((o for o in self._customer_orders.get(row["customer_id"], [])
                     if o.id not in self._matched_orders and not (number and o.number) and o.amount == row["amount"]
                     and v.same_time(o.ordered_at, row["ordered_at"], row["precision"])), None)

    def _update_order(self, stored: _Stored, row: dict) -> bool:
        """Write what the file changes in a stored order (its lines stay); False when nothing changes."""
        changed = {name: row[name] for name in self._order_fields if row[name] != getattr(stored, name)}
        if row["number"] and not stored.number:
            changed["number"] = row["number"]
        if not v.same_time(stored.ordered_at, row["ordered_at"], row["precision"]):
            changed["ordered_at"] = row["ordered_at"]
        if not changed:
            return False
        Order.objects.filter(pk=stored.id).update(**changed)
        old = {name: getattr(stored, name) for name in changed}
        self._updated(Order(pk=stored.id), {k: str(x) if k == "amount" else x.isoformat() if k == "ordered_at"
                                            else x for k, x in old.items()})
        self.touched.add(stored.customer_id)
        return True

    def _write_orders(self, rows: list[dict]) -> None:
        if not rows:
            return
        self._ensure_products(rows)
        created_by = self.user.pk if self.user is not None and self.user.pk else None
        now = timezone.now()
        order_ids = _insert_rows(Order, ["customer_id", "number", "ordered_at", "amount", "payment_method",
                                         "sales_channel", "status", "note", "created_by_id", "created_at"],
                                 [[r["customer_id"], r["number"], r["ordered_at"], r["amount"], r["payment_method"],
                                   r["sales_channel"], r["status"], r["note"], created_by, now] for r in rows])
        self._created(Order, order_ids)
        self.touched.update(r["customer_id"] for r in rows)
        lines = []
        for order_id, r in zip(order_ids, rows, strict=True):
            for name, category, qty, price in r["lines"]:
                product_id, product_category = self._products[name]
                category_id = self._categories.get(category) if category else product_category
                lines.append([order_id, product_id, name, category_id, qty, price])
        line_ids = _insert_rows(OrderLine, ["order_id", "product_id", "product_name", "category_id", "quantity",
                                            "unit_price"], lines)
        self._created(OrderLine, line_ids)

    def _category_ids(self, names: set[str]) -> None:
        missing = {n for n in names if n and n not in self._categories}
        if not missing:
            return
        for name, pk in Category.objects.filter(name__in=missing).values_list("name", "pk"):
            self._categories[name] = pk
        new = [Category(name=n) for n in sorted(missing - set(self._categories))]
        if new:
            Category.objects.bulk_create(new)
            self._created(Category, [c.pk for c in new])
            self._categories.update({c.name: c.pk for c in new})

    def _ensure_products(self, rows: list[dict]) -> None:
        self._category_ids({category for r in rows for _, category, _, _ in r["lines"]})
        names = {name for r in rows for name, _, _, _ in r["lines"]} - set(self._products)
        if not names:
            return
        for name, pk, cat in Product.objects.filter(name__in=names).values_list("name", "pk", "category_id"):
            self._products[name] = (pk, cat)
        category_of = {name: category for r in rows for name, category, _, _ in r["lines"] if category}
        new = [Product(name=n, category_id=self._categories.get(category_of.get(n, ""))) for n in sorted(
            names - set(self._products))]
        if new:
            Product.objects.bulk_create(new)
            self._created(Product, [p.pk for p in new])
            self._products.update({p.name: (p.pk, p.category_id) for p in new})

    # ── preferences, communications, feedback ─────────────────────────────────────────────────

    def _rows_with_customer(self, sheet: Sheet):
        """(row number, record, customer pk) for each row whose customer is known; others are rejected."""
        chunk: list[tuple[int, dict]] = []

        def flush():
            self._resolve_many([r for _, r in chunk])
            for number, record in chunk:
                try:
                    yield number, record, self._customer_pk(sheet, number, record)
                except Rejected as exc:
                    self._reject(sheet, exc.problems)
            self.progress(len(chunk))

        for number, record, _ in sheet.records():
            chunk.append((number, record))
            if len(chunk) >= 500:
                yield from flush()
                chunk = []
        if chunk:
            yield from flush()

    def _preference_sheet(self, sheet: Sheet) -> None:
        counts = self.counts[sheet.kind]
        for number, record, customer_id in self._rows_with_customer(sheet):
            parsed, problems = {}, []
            if "preferred_channel" in record:
                try:
                    parsed["preferred_channel"] = v.parse_marketing_channel(record["preferred_channel"])
                except v.BadValue as exc:
                    self.problems.append(self._unmatched(sheet, number, "preferred_channel",
                                                         record["preferred_channel"], exc))
            if "consent" in record:
                try:
                    parsed["consent"] = v.parse_bool(record["consent"])
                except v.BadValue as exc:
                    problems.append(self._problem(sheet, number, "consent", record["consent"], str(exc)))
            if problems:
                self._reject(sheet, problems)
                continue
            channel, consent = parsed.get("preferred_channel"), parsed.get("consent")
            category_names = [n[:50] for n in v.parse_list(record.get("categories"))]
            self._category_ids(set(category_names))
            category_ids = sorted(self._categories[n] for n in category_names)
            pref = Preference.objects.filter(customer_id=customer_id).first()
            changed = False
            if pref is None:
                pref = Preference.objects.create(customer_id=customer_id, preferred_channel=channel or "",
                                                 notes=v.cell_text(record.get("pref_notes"))[:200])
                pref.categories.set(category_ids)
                self._created(Preference, [pref.pk])
                counts.new += 1
                changed = True
            else:
                old = {"preferred_channel": pref.preferred_channel, "notes": pref.notes,
                       "categories": sorted(pref.categories.values_list("pk", flat=True))}
                new = dict(old)
                if channel is not None:
                    new["preferred_channel"] = channel
                if "pref_notes" in record:
                    new["notes"] = v.cell_text(record["pref_notes"])[:200]
                if "categories" in record:
                    new["categories"] = category_ids
                if new != old:
                    pref.preferred_channel, pref.notes = new["preferred_channel"], new["notes"]
                    pref.save()
                    pref.categories.set(new["categories"])
                    self._updated(pref, old)
                    counts.updated += 1
                    changed = True
            if consent is not None:
                target = channel or pref.preferred_channel
                if not target:
                    self.problems.append(self._problem(sheet, number, "consent", record["consent"],
                                                       "未填写营销渠道，营销授权未导入", "warning"))
                elif self._set_consent(customer_id, target) != consent:
                    self._write_consent(customer_id, target, consent)
                    if not changed:
                        counts.updated += 1
                        changed = True
            if not changed:
                counts.unchanged += 1

    def _set_consent(self, customer_id: int, channel: str) -> bool | None:
        return Consent.objects.filter(customer_id=customer_id, channel=channel).values_list(
            "granted", flat=True).first()

    def _write_consent(self, customer_id: int, channel: str, granted: bool) -> None:
        consent = Consent.objects.filter(customer_id=customer_id, channel=channel).first()
        if consent is None:
            consent = Consent.objects.create(customer_id=customer_id, channel=channel, granted=granted,
                                             source=f"导入：{self.file_name}"[:50])
            self._created(Consent, [consent.pk])
        else:
            self._updated(consent, {"granted": consent.granted, "changed_at": consent.changed_at.isoformat(),
                                    "source": consent.source})
            consent.granted, consent.changed_at = granted, timezone.now()
            consent.source = f"导入：{self.file_name}"[:50]
            consent.save()

    def _form_errors(self, sheet: Sheet, number: int, record: dict, form) -> list[Problem]:
        return [self._problem(sheet, number, f if f in record else "", record.get(f, ""), msg)
                for f, msgs in form.errors.items() for msg in msgs]

    def _communication_sheet(self, sheet: Sheet) -> None:
        counts = self.counts[sheet.kind]
        for number, record, customer_id in self._rows_with_customer(sheet):
            data, problems = {}, []
            parsers = {"occurred_at": v.parse_datetime, "method": v.parse_communication_method,
                       "next_follow_up": v.parse_date}
            for key, parse in parsers.items():
                if key in record:
                    try:
                        data[key] = parse(record[key])
                    except v.BadValue as exc:
                        problems.append(self._problem(sheet, number, key, record[key], str(exc)))
            if problems:
                self._reject(sheet, problems)
                continue
            data["content"] = v.cell_text(record.get("content"))
            data["outcome"] = v.cell_text(record.get("outcome"))[:200]
            form = CommunicationForm(data=data)
            if not form.is_valid():
                self._reject(sheet, self._form_errors(sheet, number, record, form))
                continue
            c = form.cleaned_data
            if Communication.objects.filter(customer_id=customer_id, occurred_at=c["occurred_at"],
                                            method=c["method"], content=c["content"]).exists():
                counts.unchanged += 1
                continue
            author = self.user if self.user is not None and self.user.pk else None
            comm = record_communication(form, Customer(pk=customer_id), author)
            self._created(Communication, [comm.pk])
            self._created(FollowUp, comm.follow_ups.values_list("pk", flat=True))
            counts.new += 1

    def _feedback_sheet(self, sheet: Sheet) -> None:
        counts = self.counts[sheet.kind]
        for number, record, customer_id in self._rows_with_customer(sheet):
            data = {k: record[k] for k in record if k.startswith("score_")}
            try:
                data["received_at"] = v.parse_datetime(record["received_at"]) if "received_at" in record \
                    else None
            except v.BadValue as exc:
                self._reject(sheet, [self._problem(sheet, number, "received_at", record["received_at"], str(exc))])
                continue
            if data["received_at"] is None:
                self._reject(sheet, [self._problem(sheet, number, "received_at", "", "缺少反馈日期")])
                continue
            for k in list(data):
                if k.startswith("score_"):
                    data[k] = v.cell_text(data[k]).replace("★", "").strip() or str(v.cell_text(record[k]).count("★"))
            data["comment"] = v.cell_text(record.get("comment"))
            form = FeedbackForm(data=data)
            if not form.is_valid():
                self._reject(sheet, self._form_errors(sheet, number, record, form))
                continue
            c = form.cleaned_data
            if Feedback.objects.filter(customer_id=customer_id, received_at=c["received_at"],
                                       comment=c["comment"]).exists():
                counts.unchanged += 1
                continue
            form.instance.customer_id = customer_id
            form.instance.recorded_by = self.user if self.user is not None and self.user.pk else None
            feedback = form.save()
            self._created(Feedback, [feedback.pk])
            counts.new += 1


def _changed_values(instance: Customer, form: CustomerForm) -> dict:
    """{field: old value} for what the form would change (JSON-ready), or {} when nothing changes."""
    old: dict[str, object] = {}
    for name, value in form.cleaned_data.items():
        if name == "version":
            continue
        if name == "tag_names":
            current = sorted(t.name for t in instance.tags.all())
            if list(value) != current:
                old["tag_names"] = current
            continue
        if name.startswith("cf_"):
            key = name[3:]
            new = value.isoformat() if hasattr(value, "isoformat") else ("" if value in (None, "") else str(value))
            current = (instance.extra or {}).get(key, "")
            if str(current) != new:
                old["extra"] = dict(instance.extra or {})
            continue
        current = getattr(instance, name)
        if isinstance(current, datetime.datetime) and isinstance(value, datetime.datetime):
            same = abs((current - value).total_seconds()) < 1
        elif name == "owner":
            same = (current.pk if current else None) == (value.pk if value else None)
        else:
            same = (current or "") == (value or "")
        if not same:
            if name == "owner":
                old[name] = current.pk if current else None
            elif isinstance(current, datetime.date):
                old[name] = current.isoformat()
            else:
                old[name] = current
    return old


def _insert_rows(model, columns: list[str], rows: list[list]) -> list[int]:
    """INSERT many rows in one executemany with ids chosen up front; returns the ids.

    bulk_create spends most of its time building SQL per object; for a million purchase rows that is the
    difference between one minute and three. Values are adapted by the database backend as the ORM would.
    """
    if not rows:
        return []
    meta = model._meta
    table = meta.db_table
    ops = connection.ops
    fields = [meta.get_field(c[:-3] if c.endswith("_id") and c != "id" else c) for c in columns]
    adapters = []
    for f in fields:
        kind = f.get_internal_type()
        if kind == "DateTimeField":  # the same moments recur (created_at, busy days): adapt each once
            adapters.append(functools.lru_cache(maxsize=65536)(ops.adapt_datetimefield_value))
        elif kind == "DecimalField":
            adapters.append(lambda value, f=f: ops.adapt_decimalfield_value(value, f.max_digits, f.decimal_places))
        else:
            adapters.append(None)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"SELECT nextval(pg_get_serial_sequence('{table}', 'id')) FROM generate_series(1, %s)",
                           [len(rows)])
            ids = [r[0] for r in cursor.fetchall()]
        else:
            cursor.execute(f'SELECT MAX(id) FROM "{table}"')
            top = cursor.fetchone()[0] or 0
            cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [table])
            seq = cursor.fetchone()
            first = max(top, seq[0] if seq else 0) + 1
            ids = list(range(first, first + len(rows)))
        params = [[i, *(a(x) if a and x is not None else x for a, x in zip(adapters, row, strict=True))]
                  for i, row in zip(ids, rows, strict=True)]
        names = ", ".join(connection.ops.quote_name(c) for c in ["id", *columns])
        if connection.vendor == "postgresql":  # COPY: several times faster than INSERTs on PostgreSQL
            with cursor.cursor.copy(f"COPY {connection.ops.quote_name(table)} ({names}) FROM STDIN") as copy:
                for row in params:
                    copy.write_row(row)
            return ids
        marks = ", ".join(["%s"] * (len(columns) + 1))
        for i in range(0, len(params), 5000):
            cursor.executemany(f"INSERT INTO {connection.ops.quote_name(table)} ({names}) VALUES ({marks})",
                               params[i:i + 5000])
    return ids


def _let_others_write() -> None:
    """Between two transactions of a long write: SQLite's busy handler polls every 100 ms, so a pause longer than
    that lets the writers waiting meanwhile in (PostgreSQL writers do not wait on each other)."""
    if connection.vendor == "sqlite":
        time.sleep(COMMIT_PAUSE_SECONDS)


def _ranges(ids: Iterable[int]) -> list[list[int]]:
    """[1, 2, 3, 7, 8] → [[1, 3], [7, 8]]."""
    out: list[list[int]] = []
    for i in sorted(ids):
        if out and i == out[-1][1] + 1:
            out[-1][1] = i
        else:
            out.append([i, i])
    return out


def import_file(path: str | Path, *, user=None, on_duplicate: str = "update", dry_run: bool = False,
                name: str | None = None, sheets: list[Sheet] | None = None, stored_file: str = "",
                progress: Callable[[int], None] | None = None, unknown_customers: str = "warn",
                on_conflict: str = "error") -> ImportResult:
    """Read and import a workbook or CSV file (see module docstring)."""
    sheets = sheets if sheets is not None else read_workbook(path, name)
    return Importer(sheets, user=user, on_duplicate=on_duplicate, dry_run=dry_run,
                    file_name=name or Path(path).name, stored_file=stored_file, progress=progress,
                    unknown_customers=unknown_customers, on_conflict=on_conflict).run()


# ── reverting ─────────────────────────────────────────────────────────────────────────────────

def _model(label: str):
    from django.apps import apps

    return apps.get_model(label)


# Shared records an import may have created; a revert keeps those that others have come to use since.
_STILL_UNUSED = {
    "customers.Tag": {"customers__isnull": True},
    "sales.Product": {"orderline__isnull": True},
    "sales.Category": {"orderline__isnull": True, "products__isnull": True, "preference__isnull": True,
                       "children__isnull": True},
}


def revert_batch(batch: ImportBatch, user=None) -> dict[str, int]:
    """Undo an import: delete what it created, restore what it updated. Returns {model label: rows}.

    A finished batch or one stopped midway (ImportBatch.can_revert). Like the import it works in short
    transactions, so others keep working; each is whole (rows deleted with their customers' metrics refreshed),
    and a revert that is itself interrupted finishes when run again.
    """
    batch = ImportBatch.objects.get(pk=batch.pk)
    if not batch.can_revert:
        raise ValueError(f"导入 #{batch.pk} 的状态为“{batch.status_label}”，不能撤销")
    done: Counter = Counter()
    updates = list(batch.changes.filter(action=ImportChange.Action.UPDATE).order_by("-id"))
    for start in range(0, len(updates), REVERT_CHUNK):
        with transaction.atomic():
            for change in updates[start:start + REVERT_CHUNK]:
                obj = _model(change.model).objects.filter(pk=change.object_id).first()
                if obj is not None:
                    _restore(obj, change.old_values)
                    done[change.model] += 1
        _let_others_write()
    # Creations last, children before parents.
    order = ["sales.OrderLine", "sales.Order", "engagement.FollowUp", "engagement.Communication",
             "engagement.Feedback", "engagement.Consent", "engagement.Preference", "customers.Customer",
             "sales.Product", "sales.Category", "customers.Tag"]
    creates: dict[str, list[list[int]]] = {}
    for change in batch.changes.filter(action=ImportChange.Action.CREATE):
        creates.setdefault(change.model, []).extend(change.id_ranges)
    new_customers = creates.get("customers.Customer", [])
    for label in sorted(creates, key=lambda m: order.index(m) if m in order else len(order)):
        model = _model(label)
        for first, last in creates[label]:
            for start in range(first, last + 1, REVERT_CHUNK):
                with transaction.atomic():
                    qs = model.objects.filter(pk__gte=start, pk__lte=min(last, start + REVERT_CHUNK - 1))
                    touched = set(qs.values_list("customer_id", flat=True)) if label == "sales.Order" else set()
                    deleted, _ = qs.filter(**_STILL_UNUSED.get(label, {})).delete()
                    done[label] += deleted
                    # Customers that stay (not created by this import) get their metrics back in the same step.
                    survivors = {c for c in touched if not any(a <= c <= b for a, b in new_customers)}
                    if survivors:
                        refresh_customers(survivors)
                _let_others_write()
    with transaction.atomic():
        batch.status = ImportBatch.Status.REVERTED
        batch.reverted_at = timezone.now()
        batch.reverted_by = user if user is not None and user.pk else None
        batch.save(update_fields=["status", "reverted_at", "reverted_by"])
    return dict(done)


def _restore(obj, old: dict) -> None:
    if isinstance(obj, Customer):
        tags = old.pop("tag_names", None)
        for name, value in old.items():
            if name == "owner":
                obj.owner_id = value
            elif name == "birthday":
                obj.birthday = datetime.date.fromisoformat(value) if value else None
            elif name == "registered_at":
                obj.registered_at = datetime.datetime.fromisoformat(value)
            else:
                setattr(obj, name, value)
        obj.version += 1
        obj.save()
        if tags is not None:
            obj.tags.set([Tag.objects.get_or_create(name=n)[0] for n in tags])
    elif isinstance(obj, Preference):
        obj.preferred_channel, obj.notes = old["preferred_channel"], old["notes"]
        obj.save()
        obj.categories.set(old["categories"])
    elif isinstance(obj, Order):
        for name, value in old.items():
            setattr(obj, name, datetime.datetime.fromisoformat(value) if name == "ordered_at"
                    else Decimal(value) if name == "amount" else value)
        obj.save()
    elif isinstance(obj, Consent):
        obj.granted, obj.source = old["granted"], old["source"]
        obj.changed_at = datetime.datetime.fromisoformat(old["changed_at"])
        obj.save()


def problems_json(problems: list[Problem]) -> str:
    return json.dumps([asdict(p) for p in problems], ensure_ascii=False)
