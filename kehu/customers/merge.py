"""Merging two records of one customer (合并客户): everything moves onto the kept record, and it is recorded.

The merged customer's full profile is kept, encrypted, in a MergeRecord together with what moved
(counts, and the ids of the moved rows), so a merge can be understood, and if need be undone by hand,
later.
"""

import json

from django.db import IntegrityError, transaction
from django.db.models import F
from django.dispatch import Signal

from kehu.accounts import audit

from .models import Customer, MergeRecord

# Profile fields filled on the kept customer when it has no value of its own.
FILLABLE = ("gender", "birthday", "mobile", "email", "wechat", "province", "city", "district", "address",
            "source", "company", "industry", "company_size", "grade", "owner")
# Relations handled one by one below; anything else pointing at Customer is moved generically.
HANDLED = {"orders", "communications", "follow_ups", "feedback", "consents", "preference", "merges"}


#: Sent inside the merge transaction once everything has moved and the merged customer is gone:
#: sender=Customer, kept=Customer, merged_id=int, record=MergeRecord. Apps with data derived from
#: orders (metrics, segments) refresh the kept customer here; `update()` bypasses their signals.
customers_merged = Signal()


class MergeError(Exception):
    """A merge that cannot be done; the message is in Chinese."""


class MergeConflict(MergeError):
    """One of the two customers changed after the merge page was opened."""


def snapshot(customer: Customer) -> dict:
    """The customer's profile as plain JSON-able data (contact fields in the clear: stored encrypted)."""
    data = {}
    for f in customer._meta.concrete_fields:
        if f.name.endswith("_hash"):
            continue
        value = getattr(customer, f.attname)
        if hasattr(value, "isoformat"):
            value = value.isoformat()
        data[f.attname] = value
    data["owner"] = customer.owner.username if customer.owner_id else None
    data["tags"] = sorted(t.name for t in customer.tags.all())
    return data


def _move(qs, kept: Customer, field: str = "customer") -> list[int]:
    ids = list(qs.values_list("pk", flat=True))
    if ids:
        qs.model.objects.filter(pk__in=ids).update(**{field: kept})
    return ids


@transaction.atomic
def merge_customers(kept: Customer, merged: Customer, user=None,
                    expected_versions: tuple[int, int] | None = None) -> MergeRecord:
    """Move everything of `merged` onto `kept`, record it, delete `merged`. All or nothing.

    expected_versions: (kept.version, merged.version) as the person saw them; a change since
    raises MergeConflict and nothing happens.
    """
    from kehu.engagement.models import Communication, Consent, Feedback, FollowUp, Preference
    from kehu.sales.models import Order

    if kept.pk == merged.pk:
        raise MergeError("不能把客户与自己合并")
    # Lock both rows (PostgreSQL; SQLite writes are serialised) and work on fresh copies.
    locked = {c.pk: c for c in Customer.objects.select_for_update().filter(pk__in=[kept.pk, merged.pk])}
    if len(locked) != 2:
        raise MergeError("要合并的客户已不存在（可能已被合并或删除）")
    kept, merged = locked[kept.pk], locked[merged.pk]
    if expected_versions and (kept.version, merged.version) != tuple(expected_versions):
        raise MergeConflict(f"客户 {kept.code} 或 {merged.code} 在您打开合并页面后已被修改，请刷新后再合并。")

    profile = snapshot(merged)
    moved: dict = {}
    moved_ids: dict[str, list[int]] = {}

    def record(key: str, ids: list[int]) -> None:
        moved[key] = len(ids)
        if ids:
            moved_ids[key] = ids

    record("orders", _move(Order.objects.filter(customer=merged), kept))
    record("communications", _move(Communication.objects.filter(customer=merged), kept))
    record("follow_ups", _move(FollowUp.objects.filter(customer=merged), kept))
    record("feedback", _move(Feedback.objects.filter(customer=merged), kept))
    kept_channels = set(Consent.objects.filter(customer=kept).values_list("channel", flat=True))
    record("consents", _move(Consent.objects.filter(customer=merged).exclude(channel__in=kept_channels), kept))
    record("preferences", _merge_preference(Preference, kept, merged))
    record("merge_records", _move(MergeRecord.objects.filter(kept=merged), kept, field="kept"))
    for key, ids in _move_other_relations(kept, merged).items():
        record(key, ids)

    kept_tags = set(kept.tags.values_list("id", flat=True))
    new_tags = [t for t in merged.tags.all() if t.id not in kept_tags]
    kept.tags.add(*new_tags)
    moved["tags"] = len(new_tags)

    filled = _fill_profile(kept, merged)
    moved["filled_fields"] = filled
    profile["moved_ids"] = moved_ids

    merge = MergeRecord.objects.create(
        kept=kept, merged_code=merged.code, merged_name=merged.name,
        snapshot=json.dumps(profile, ensure_ascii=False), moved=moved, merged_by=user,
    )
    merged_id = merged.pk
    merged.delete()
    kept.version = F("version") + 1
    kept.save()
    kept.refresh_from_db()
    customers_merged.send(sender=Customer, kept=kept, merged_id=merged_id, record=merge)
    audit.record(user, audit.AuditAction.MERGE, kept, {"merged_code": merge.merged_code, "moved": moved})
    return merge


def _merge_preference(Preference, kept: Customer, merged: Customer) -> list[int]:
    """Move the merged customer's preferences if the kept one has none; else add what is missing."""
    theirs = Preference.objects.filter(customer=merged).first()
    if theirs is None:
        return []
    ours = Preference.objects.filter(customer=kept).first()
    if ours is None:
        theirs.customer = kept
        theirs.save(update_fields=["customer"])
        return [theirs.pk]
    ours.categories.add(*theirs.categories.all())
    changed = []
    for name in ("preferred_channel", "notes"):
        if not getattr(ours, name) and getattr(theirs, name):
            setattr(ours, name, getattr(theirs, name))
            changed.append(name)
    if changed:
        ours.save(update_fields=changed)
    return []


def _move_other_relations(kept: Customer, merged: Customer) -> dict[str, list[int]]:
    """Rows of other apps pointing at the merged customer (many-to-one): moved when they can be.

    A row that cannot move (a uniqueness rule, e.g. per-customer metrics) stays and is deleted with
    the merged customer; such data is derived and is rebuilt for the kept customer.
    """
    moved = {}
    for rel in Customer._meta.related_objects:
        if rel.one_to_one or rel.many_to_many or rel.get_accessor_name() in HANDLED:
            continue
        if rel.related_model is MergeRecord:
            continue
        qs = rel.related_model._base_manager.filter(**{rel.field.name: merged})
        try:
            with transaction.atomic():
                ids = _move(qs, kept, field=rel.field.name)
        except IntegrityError:
            continue
        if ids:
            moved[f"{rel.related_model._meta.app_label}.{rel.related_model._meta.model_name}"] = ids
    for m2m in Customer._meta.related_objects:
        if not m2m.many_to_many:
            continue
        through = m2m.through
        source = m2m.field.m2m_reverse_field_name()  # the column pointing at Customer
        other = m2m.field.m2m_field_name()
        have = set(through.objects.filter(**{source: kept}).values_list(f"{other}_id", flat=True))
        rows = through.objects.filter(**{source: merged}).exclude(**{f"{other}_id__in": have})
        ids = _move(rows, kept, field=source)
        if ids:
            moved[f"{through._meta.app_label}.{through._meta.model_name}"] = ids
    return moved


def _fill_profile(kept: Customer, merged: Customer) -> list[str]:
    """Fill the kept customer's empty fields from the merged one; nothing the kept has is overwritten."""
    filled = []
    for name in FILLABLE:
        field = Customer._meta.get_field(name)
        attname = field.attname
        if getattr(kept, attname) in (None, "") and getattr(merged, attname) not in (None, ""):
            setattr(kept, attname, getattr(merged, attname))
            filled.append(name)
    if merged.registered_at < kept.registered_at:
        kept.registered_at = merged.registered_at  # the relationship began with the earlier record
        filled.append("registered_at")
    extra = dict(kept.extra or {})
    for key, value in (merged.extra or {}).items():
        if key not in extra:
            extra[key] = value
            filled.append(f"extra.{key}")
    kept.extra = extra
    if merged.notes.strip():
        note = f"【合并自 {merged.code} {merged.name}】{merged.notes.strip()}"
        kept.notes = f"{kept.notes.rstrip()}\n{note}" if kept.notes.strip() else note
        filled.append("notes")
    return filled
