"""Keep CustomerMetrics and CustomerCategorySpend current as orders and their lines change.

Constant work per change: the customer's metrics row is locked (SELECT … FOR UPDATE), updated in
Python with exact Decimal/integer arithmetic, and written back. Adding an order after the last one
(the usual case) or before the first needs no other read. Only an order inserted, moved or removed in
the *middle* of a customer's history (or removed at either end) reads its two neighbours: two indexed
look-ups on (customer, ordered_at), never a rescan of the customer's history. A refund or a change of
customer moves the contribution of that one order's lines (one read of its lines).

What signals cannot see: ``QuerySet.update()``, ``bulk_create()`` and raw SQL on orders bypass them.
Code that writes orders in bulk (imports, merges) should call
:func:`kehu.segments.pipeline.refresh_customers` for the customers it touched, or ``rebuild_metrics()``;
the nightly ``kehu segment --full`` reconciles any drift. Two orders of the *same* customer written at
once by two processes are serialised by the row lock when each write runs in ``transaction.atomic()``
together with its order (SQLite serialises all writers anyway).
"""

from __future__ import annotations

import datetime
from decimal import Decimal

from django.db import transaction
from django.db.models import Max, Min
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils import timezone

from kehu.sales.models import Order, OrderLine, OrderStatus

from .models import CustomerCategorySpend, CustomerMetrics

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
CENT = Decimal("0.01")
_ORDERED_AT = Order._meta.get_field("ordered_at")
_AMOUNT = Order._meta.get_field("amount")


def epoch_seconds(moment: datetime.datetime) -> int:
    """Whole seconds since 1970 (floor), exact: the time unit of the purchase-rhythm sums."""
    return (moment - EPOCH) // datetime.timedelta(seconds=1)


def _moment(value) -> datetime.datetime:
    value = _ORDERED_AT.to_python(value)
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def _money(value) -> Decimal:
    return _AMOUNT.to_python(value).quantize(CENT)


def _line_total(quantity, unit_price) -> Decimal:
    return (Decimal(str(quantity)) * Decimal(str(unit_price))).quantize(CENT)


# --- order metrics -------------------------------------------------------------------------------------

def _neighbours(customer_id: int, moment: datetime.datetime, order_id: int | None):
    """The latest other counted order at or before `moment` and the earliest one after it."""
    others = Order.objects.completed().filter(customer_id=customer_id)
    if order_id is not None:
        others = others.exclude(pk=order_id)
    before = others.filter(ordered_at__lte=moment).aggregate(t=Max("ordered_at"))["t"]
    after = others.filter(ordered_at__gt=moment).aggregate(t=Min("ordered_at"))["t"]
    return before, after


def _gap_delta(before, moment, after) -> int:
    """Change in Σ gap² when `moment` is put between `before` and `after` (either may be None)."""
    t = epoch_seconds(moment)
    delta = 0
    if before is not None:
        delta += (t - epoch_seconds(before)) ** 2
    if after is not None:
        delta += (epoch_seconds(after) - t) ** 2
    if before is not None and after is not None:
        delta -= (epoch_seconds(after) - epoch_seconds(before)) ** 2
    return delta


def add_order(customer_id: int, moment: datetime.datetime, amount: Decimal, order_id: int | None) -> None:
    """Count one order (already saved) in its customer's metrics."""
    with transaction.atomic(savepoint=False):
        metrics, created = CustomerMetrics.objects.select_for_update().get_or_create(customer_id=customer_id)
        if created:
            # Category rows can outlive the metrics row (an order moved in time is removed, then added).
            metrics.categories = CustomerCategorySpend.objects.filter(customer_id=customer_id).count()
        if metrics.frequency == 0:
            before = after = None
            metrics.first_order_at = metrics.last_order_at = moment
        elif moment >= metrics.last_order_at:
            before, after = metrics.last_order_at, None
        elif moment < metrics.first_order_at:
            before, after = None, metrics.first_order_at
        else:
            before, after = _neighbours(customer_id, moment, order_id)
        metrics.interval_sq_sum += _gap_delta(before, moment, after)
        metrics.frequency += 1
        metrics.monetary += amount
        metrics.first_order_at = min(metrics.first_order_at, moment)
        metrics.last_order_at = max(metrics.last_order_at, moment)
        metrics.save()


def remove_order(customer_id: int, moment: datetime.datetime, amount: Decimal, order_id: int | None) -> None:
    """Stop counting one order (refunded, moved, changed or deleted; its row may already be gone)."""
    with transaction.atomic(savepoint=False):
        metrics = CustomerMetrics.objects.select_for_update().filter(customer_id=customer_id).first()
        if metrics is None:
            return
        if metrics.frequency <= 1:
            metrics.delete()
            return
        before, after = _neighbours(customer_id, moment, order_id)
        metrics.interval_sq_sum -= _gap_delta(before, moment, after)
        metrics.frequency -= 1
        metrics.monetary -= amount
        if before is None:
            metrics.first_order_at = after
        if after is None:
            metrics.last_order_at = before
        metrics.save()


def _change_amount(customer_id: int, delta: Decimal) -> None:
    with transaction.atomic(savepoint=False):
        metrics = CustomerMetrics.objects.select_for_update().filter(customer_id=customer_id).first()
        if metrics is not None:
            metrics.monetary += delta
            metrics.save(update_fields=["monetary", "updated_at"])


# --- category spend ------------------------------------------------------------------------------------

def add_category_spend(customer_id: int, category_id: int, amount: Decimal, sign: int) -> None:
    """Add (sign=1) or take away (sign=-1) one line's spend in a category."""
    with transaction.atomic(savepoint=False):
        if sign > 0:
            row, created = CustomerCategorySpend.objects.select_for_update().get_or_create(
                customer_id=customer_id, category_id=category_id)
        else:
            row = CustomerCategorySpend.objects.select_for_update().filter(
                customer_id=customer_id, category_id=category_id).first()
            created = False
            if row is None:
                return
        row.lines += sign
        row.spend += sign * amount
        if row.lines <= 0:
            row.delete()
            _bump_categories(customer_id, -1)
        else:
            row.save()
            if created:
                _bump_categories(customer_id, 1)


def _bump_categories(customer_id: int, step: int) -> None:
    metrics = CustomerMetrics.objects.select_for_update().filter(customer_id=customer_id).first()
    if metrics is not None:
        metrics.categories = max(metrics.categories + step, 0)
        metrics.save(update_fields=["categories", "updated_at"])


def _move_lines(order_id: int, customer_id: int, sign: int) -> None:
    """Add or take away the category spend of all lines of one order."""
    lines = OrderLine.objects.filter(order_id=order_id, category__isnull=False)
    for category_id, quantity, unit_price in lines.values_list("category_id", "quantity", "unit_price"):
        add_category_spend(customer_id, category_id, _line_total(quantity, unit_price), sign)


# --- receivers -----------------------------------------------------------------------------------------

def _order_state(order: Order) -> dict:
    return {"customer_id": order.customer_id, "ordered_at": _moment(order.ordered_at),
            "amount": _money(order.amount), "status": order.status}


def remember_order(sender, instance: Order, raw: bool = False, **kwargs) -> None:
    instance._segments_before = None
    if instance.pk is not None and not raw:
        old = Order.objects.filter(pk=instance.pk).values("customer_id", "ordered_at", "amount", "status").first()
        if old is not None:
            old["ordered_at"] = _moment(old["ordered_at"])
            old["amount"] = _money(old["amount"])
        instance._segments_before = old


def order_saved(sender, instance: Order, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    old = getattr(instance, "_segments_before", None)
    instance._segments_before = None
    new = _order_state(instance)
    old_counted = old is not None and old["status"] == OrderStatus.COMPLETED
    new_counted = new["status"] == OrderStatus.COMPLETED
    with transaction.atomic(savepoint=False):
        if old_counted and new_counted and old["customer_id"] == new["customer_id"] \
                and old["ordered_at"] == new["ordered_at"]:
            if old["amount"] != new["amount"]:
                _change_amount(new["customer_id"], new["amount"] - old["amount"])
            return
        if old_counted:
            remove_order(old["customer_id"], old["ordered_at"], old["amount"], instance.pk)
        if new_counted:
            add_order(new["customer_id"], new["ordered_at"], new["amount"], instance.pk)
        # Lines follow the order when it stops or starts counting, or changes customer.
        lines_moved = created is False and (old_counted != new_counted or (
            old is not None and old["customer_id"] != new["customer_id"]))
        if lines_moved:
            if old_counted:
                _move_lines(instance.pk, old["customer_id"], -1)
            if new_counted:
                _move_lines(instance.pk, new["customer_id"], 1)


def order_deleted(sender, instance: Order, **kwargs) -> None:
    # Its lines were deleted just before (cascade) and took their category spend with them.
    if instance.status == OrderStatus.COMPLETED:
        remove_order(instance.customer_id, _moment(instance.ordered_at), _money(instance.amount), instance.pk)


def _line_contribution(line_values: dict | None) -> tuple[int, int, Decimal] | None:
    """(customer, category, amount) a line adds to category spend, or None if it adds nothing."""
    if line_values is None or line_values["category_id"] is None:
        return None
    order = Order.objects.filter(pk=line_values["order_id"]).values("customer_id", "status").first()
    if order is None or order["status"] != OrderStatus.COMPLETED:
        return None
    return (order["customer_id"], line_values["category_id"],
            _line_total(line_values["quantity"], line_values["unit_price"]))


def _line_values(line: OrderLine) -> dict:
    return {"order_id": line.order_id, "category_id": line.category_id, "quantity": line.quantity,
            "unit_price": line.unit_price}


def remember_line(sender, instance: OrderLine, raw: bool = False, **kwargs) -> None:
    instance._segments_before = None
    if instance.pk is not None and not raw:
        old = OrderLine.objects.filter(pk=instance.pk).values("order_id", "category_id", "quantity",
                                                              "unit_price").first()
        instance._segments_before = _line_contribution(old)


def line_saved(sender, instance: OrderLine, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    old = getattr(instance, "_segments_before", None)
    instance._segments_before = None
    new = _line_contribution(_line_values(instance))
    if old == new:
        return
    with transaction.atomic(savepoint=False):
        if old is not None:
            add_category_spend(old[0], old[1], old[2], -1)
        if new is not None:
            add_category_spend(new[0], new[1], new[2], 1)


def line_deleted(sender, instance: OrderLine, **kwargs) -> None:
    # When the order itself is being deleted its row is still there (lines go first), so this still
    # sees whether the order counted.
    old = _line_contribution(_line_values(instance))
    if old is not None:
        add_category_spend(old[0], old[1], old[2], -1)


def connect() -> None:
    """Called from SegmentsConfig.ready()."""
    pre_save.connect(remember_order, sender=Order, dispatch_uid="segments.remember_order")
    post_save.connect(order_saved, sender=Order, dispatch_uid="segments.order_saved")
    post_delete.connect(order_deleted, sender=Order, dispatch_uid="segments.order_deleted")
    pre_save.connect(remember_line, sender=OrderLine, dispatch_uid="segments.remember_line")
    post_save.connect(line_saved, sender=OrderLine, dispatch_uid="segments.line_saved")
    post_delete.connect(line_deleted, sender=OrderLine, dispatch_uid="segments.line_deleted")
