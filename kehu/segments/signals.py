"""Keep CustomerMetrics and CustomerCategorySpend current as orders and their lines change.

Constant work per change. Adding an order at or after the customer's last one (the usual case) is one
conditional UPDATE that does the arithmetic in the database (no read). Otherwise the customer's
metrics row is locked (SELECT … FOR UPDATE), updated in Python with exact Decimal/integer arithmetic,
and written back; an order before the first needs no other read. Only an order inserted, moved or removed in
the *middle* of a customer's history (or removed at either end) reads its two neighbours: two indexed
look-ups on (customer, ordered_at), never a rescan of the customer's history. A refund or a change of
customer moves the contribution of that one order's lines (one read of its lines). A new line's spend is one
statement on PostgreSQL (its order read, its category row upserted, the customer's summary moved), two on SQLite.

After each change the customer's classes follow (``upkeep.follow``: at the commit, against the latest run).

What signals cannot see: ``QuerySet.update()``, ``bulk_create()`` and raw SQL on orders bypass them.
Code that writes orders in bulk (imports, merges) should call
:func:`kehu.segments.pipeline.refresh_customers` for the customers it touched, or ``rebuild_metrics()``;
the nightly ``kehu segment --full`` reconciles any drift. Two orders of the *same* customer written at
once by two processes are serialised by the row lock when each write runs in ``transaction.atomic()``
together with its order (SQLite serialises all writers anyway).
"""

from __future__ import annotations

import datetime
import functools
from decimal import Decimal

from django.db import connection, transaction
from django.db.models.signals import post_delete, post_save, pre_save
from django.utils import timezone

from kehu.customers.merge import customers_merged
from kehu.lib.db import run_prepared
from kehu.sales.models import Order, OrderLine, OrderStatus

from .models import CustomerCategorySpend, CustomerMetrics

EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
CENT = Decimal("0.01")
_ORDERED_AT = Order._meta.get_field("ordered_at")
_AMOUNT = Order._meta.get_field("amount")


def follow(customer_id: int | None) -> None:
    """``upkeep.follow``, imported at the first order change: the value models (SciPy) stay out of every
    command and page that never writes an order."""
    from .upkeep import follow as follow_at_commit

    follow_at_commit(customer_id)


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
    """The latest other counted order at or before `moment` and the earliest one after it (one statement, two
    index probes on (customer, ordered_at))."""
    table, ops = Order._meta.db_table, connection.ops
    others = f"FROM {table} WHERE customer_id = %s AND status = %s AND id <> %s AND ordered_at"
    at = ops.adapt_datetimefield_value(moment)
    mark = [customer_id, OrderStatus.COMPLETED, order_id if order_id is not None else 0]
    (before, after), = run_prepared(
        f"SELECT (SELECT MAX(ordered_at) {others} <= %s), (SELECT MIN(ordered_at) {others} > %s)",
        [*mark, at, *mark, at])
    return read_moment(before), read_moment(after)


def read_moment(value) -> datetime.datetime | None:
    """A timestamp read by a plain statement as an aware datetime: aware on PostgreSQL; on SQLite naive UTC, or UTC
    text where the column's type is lost (MAX, MIN)."""
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    return value if value is None or timezone.is_aware(value) else value.replace(tzinfo=datetime.UTC)


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


def _day(moment: datetime.datetime) -> datetime.date:
    return timezone.localdate(moment)


def _midnight(day: datetime.date) -> datetime.datetime:
    """The moment a local day begins."""
    return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


def _same_day_neighbour(day: datetime.date, before, after) -> bool:
    """Whether a neighbouring order (the nearest other order either side) falls on `day`."""
    return (before is not None and _day(before) == day) or (after is not None and _day(after) == day)


@functools.cache
def _append_sql() -> str:
    """One UPDATE that counts an order at or after the customer's last one (its row returned), or changes nothing.
    Prepared (lib.db.run_prepared): Django's cursor had PostgreSQL parse and plan it for every added order."""
    if connection.vendor == "postgresql":
        last_seconds = "FLOOR(EXTRACT(EPOCH FROM last_order_at))::bigint"
    else:
        last_seconds = "CAST(strftime('%%s', substr(last_order_at, 1, 19)) AS INTEGER)"  # no rounding up
    table = CustomerMetrics._meta.db_table
    return (
        f"UPDATE {table} SET interval_sq_sum = interval_sq_sum + (%s - {last_seconds}) * (%s - {last_seconds}),"
        " purchase_days = purchase_days + CASE WHEN last_order_at < %s THEN 1 ELSE 0 END,"
        " first_day_spend = first_day_spend + CASE WHEN first_order_at >= %s THEN %s ELSE 0 END,"
        " frequency = frequency + 1, monetary = monetary + %s, last_order_at = %s, updated_at = %s"
        " WHERE customer_id = %s AND frequency > 0 AND last_order_at <= %s RETURNING customer_id"
    )


def _append(customer_id: int, moment: datetime.datetime, amount: Decimal) -> bool:
    """The usual case in one statement: an order at or after the last one. False if it is not that case."""
    ops = connection.ops
    seconds = epoch_seconds(moment)
    day_start = _midnight(_day(moment))
    at, start = ops.adapt_datetimefield_value(moment), ops.adapt_datetimefield_value(day_start)
    money = _adapt_money(amount)
    return len(run_prepared(_append_sql(), [seconds, seconds, start, start, money, money, at, _adapt_now(),
                                            customer_id, at])) == 1


@functools.cache
def _first_order_sql() -> str:
    """One INSERT of the metrics row of a customer's first counted order, with the summary of the category rows it
    may already have (an order moved in time is removed, then added); nothing when the customer has a row."""
    spend = CustomerCategorySpend._meta.db_table
    best = f"FROM {spend} WHERE customer_id = %s ORDER BY spend DESC, category_id LIMIT 1"
    return (
        f"INSERT INTO {CustomerMetrics._meta.db_table} (customer_id, first_order_at, last_order_at, frequency,"
        " monetary, interval_sq_sum, purchase_days, first_day_spend, categories, category_spend, top_category_id,"
        f" top_category_spend, updated_at) SELECT %s, %s, %s, 1, %s, 0, 1, %s, COUNT(*),"
        f" ROUND(COALESCE(SUM(spend), 0), 2), (SELECT category_id {best}), COALESCE((SELECT spend {best}), 0), %s"
        f" FROM {spend} WHERE customer_id = %s ON CONFLICT (customer_id) DO NOTHING RETURNING customer_id"
    )


def add_order(customer_id: int, moment: datetime.datetime, amount: Decimal, order_id: int | None) -> None:
    """Count one order (already saved) in its customer's metrics: an order after the last one, or the first order,
    in one prepared statement; an earlier one through a locked read of the row (prepared statements throughout: the
    ORM's locked read and save were planned by PostgreSQL each time)."""
    if _append(customer_id, moment, amount):
        return
    at, money = connection.ops.adapt_datetimefield_value(moment), _adapt_money(amount)
    first_order = [customer_id, at, at, money, money, customer_id, customer_id, _adapt_now(), customer_id]
    if run_prepared(_first_order_sql(), first_order):
        return
    read, _, shift = _metrics_sql()
    with transaction.atomic(savepoint=False):
        rows = run_prepared(read, [customer_id])
        if not rows:   # removed since the INSERT found it (a removal in another transaction): the first order
            run_prepared(_first_order_sql(), first_order)
            return
        _, first_order_at, last_order_at, purchase_days, first_day_spend = rows[0]   # a row counts ≥ 1 order
        first_order_at, last_order_at = read_moment(first_order_at), read_moment(last_order_at)
        first_day_spend = _money(first_day_spend)
        day, first_day, last_day = _day(moment), _day(first_order_at), _day(last_order_at)
        if moment >= last_order_at:
            before, after = last_order_at, None
        elif moment < first_order_at:
            before, after = None, first_order_at
        else:
            before, after = _neighbours(customer_id, moment, order_id)
        if day < first_day:
            purchase_days += 1
            first_day_spend = amount
        else:
            if day == first_day:
                first_day_spend += amount
            if day > last_day or (day != first_day and not _same_day_neighbour(day, before, after)):
                purchase_days += 1
        run_prepared(shift, [1, money, _gap_delta(before, moment, after), at if moment < first_order_at else None,
                             at if moment > last_order_at else None, purchase_days, _adapt_money(first_day_spend),
                             _adapt_now(), customer_id])


@functools.cache
def _metrics_sql() -> tuple[str, str, str]:
    """The statements that count an order in or out of a metrics row: read the row (locked on PostgreSQL), delete
    it, and shift it (orders, spend and Σgap² by deltas; the first and last order where given; purchase days and
    the first day's spend as given)."""
    table = CustomerMetrics._meta.db_table
    lock = " FOR UPDATE" if connection.features.has_select_for_update else ""
    return (f"SELECT frequency, first_order_at, last_order_at, purchase_days, first_day_spend FROM {table}"
            f" WHERE customer_id = %s{lock}",
            f"DELETE FROM {table} WHERE customer_id = %s",
            f"UPDATE {table} SET frequency = frequency + %s, monetary = monetary + %s, interval_sq_sum ="
            " interval_sq_sum + %s, first_order_at = COALESCE(%s, first_order_at), last_order_at = COALESCE(%s,"
            " last_order_at), purchase_days = %s, first_day_spend = %s, updated_at = %s WHERE customer_id = %s")


def remove_order(customer_id: int, moment: datetime.datetime, amount: Decimal, order_id: int | None) -> None:
    """Stop counting one order (refunded, moved, changed or deleted; its row may already be gone). Prepared statements
    (a refund's locked read and update through the ORM were planned by PostgreSQL each time)."""
    read, delete, shift = _metrics_sql()
    with transaction.atomic(savepoint=False):
        rows = run_prepared(read, [customer_id])
        if not rows:
            return
        frequency, first_order_at, _, purchase_days, first_day_spend = rows[0]
        if frequency <= 1:
            run_prepared(delete, [customer_id])
            return
        before, after = _neighbours(customer_id, moment, order_id)
        if before is None and after is None:
            # No other counted order is left (several were deleted at once, e.g. with their customer).
            run_prepared(delete, [customer_id])
            return
        day = _day(moment)
        shared = _same_day_neighbour(day, before, after)
        if not shared:
            purchase_days = max(purchase_days - 1, 1)
        first_day_spend = _money(first_day_spend)
        first_order_at = read_moment(first_order_at)
        if first_order_at is not None and day == _day(first_order_at):
            if shared:
                first_day_spend -= amount
            elif after is not None:  # the only order of the first day: the next day becomes the first
                first_day_spend = _day_spend(customer_id, _day(after), order_id)
        at = connection.ops.adapt_datetimefield_value
        run_prepared(shift, [-1, _adapt_money(-amount), -_gap_delta(before, moment, after),
                             at(after) if before is None else None, at(before) if after is None else None,
                             purchase_days, _adapt_money(first_day_spend), _adapt_now(), customer_id])


def _day_spend(customer_id: int, day: datetime.date, order_id: int | None) -> Decimal:
    """What the customer's other counted orders on one local day add up to (one indexed read)."""
    start = _midnight(day)
    orders = Order.objects.completed().filter(customer_id=customer_id, ordered_at__gte=start,
                                              ordered_at__lt=start + datetime.timedelta(days=1))
    if order_id is not None:
        orders = orders.exclude(pk=order_id)
    return sum((_money(a) for a in orders.values_list("amount", flat=True)), Decimal("0.00"))


@functools.cache
def _change_amount_sql() -> str:
    return (f"UPDATE {CustomerMetrics._meta.db_table} SET monetary = monetary + %s, first_day_spend = first_day_spend"
            " + CASE WHEN first_order_at >= %s AND first_order_at < %s THEN %s ELSE 0 END, updated_at = %s"
            " WHERE customer_id = %s")


def _change_amount(customer_id: int, moment: datetime.datetime, delta: Decimal) -> None:
    """An order still counted changed its amount by `delta`: the customer's spend, and its first day's when the order
    is of that day, in one prepared statement (a locked read and Django's save were two statements, each planned)."""
    day = _day(moment)
    at = connection.ops.adapt_datetimefield_value
    start, end = at(_midnight(day)), at(_midnight(day + datetime.timedelta(days=1)))
    money = _adapt_money(delta)
    run_prepared(_change_amount_sql(), [money, start, end, money, _adapt_now(), customer_id])


# --- category spend ------------------------------------------------------------------------------------

_BECOMES_TOP = ("(top_category_id IS NULL OR {spend} > top_category_spend"
                " OR ({spend} = top_category_spend AND %s < top_category_id))")


@functools.cache
def _upsert_sql(*, from_order: bool) -> str:
    """Add one line's spend to its category row (inserted if new), returning the row's customer, lines and spend.
    `from_order`: the customer comes from the line's order, and only if that order counts (no row otherwise)."""
    spend = CustomerCategorySpend._meta.db_table
    source = (f"SELECT customer_id, %s, 1, %s FROM {Order._meta.db_table} WHERE id = %s AND status = %s" if from_order
              else "VALUES (%s, %s, 1, %s)")
    return (f"INSERT INTO {spend} (customer_id, category_id, lines, spend) {source}"
            f" ON CONFLICT (customer_id, category_id) DO UPDATE SET lines = {spend}.lines + 1,"
            f" spend = ROUND({spend}.spend + excluded.spend, 2) RETURNING customer_id, lines, spend")


@functools.cache
def _move_sql(lines: str, spend: str, where: str) -> str:
    """Move the customer's category count, category spend and top category by one line's spend, in the database;
    `lines` and `spend` are what its category row holds now (parameters, or the columns of a preceding upsert).
    Sums are rounded to the cent (SQLite adds decimals as floats), so equal spends compare equal."""
    becomes_top = _BECOMES_TOP.format(spend=spend)
    return (f"UPDATE {CustomerMetrics._meta.db_table} SET categories = categories + CASE WHEN {lines} = 1 THEN 1 ELSE 0"
            f" END, category_spend = ROUND(category_spend + %s, 2),"
            f" top_category_id = CASE WHEN {becomes_top} THEN %s ELSE top_category_id END,"
            f" top_category_spend = CASE WHEN {becomes_top} OR top_category_id = %s THEN {spend}"
            f" ELSE top_category_spend END, updated_at = %s {where}")


def _add_spend(customer_id: int, category_id: int, amount: Decimal) -> None:
    """One line's spend added to a customer (a line that follows its order to another customer, say)."""
    money = _adapt_money(amount)
    _upsert_and_move(_upsert_sql(from_order=False), [customer_id, category_id, money], category_id, money)


def _add_line_spend(order_id: int, category_id: int, amount: Decimal) -> int | None:
    """A new line's spend added to its order's customer, if that order counts; returns the customer, or None when
    nothing was added. The upsert reads the order; on PostgreSQL the move is in the same statement (a WITH)."""
    money = _adapt_money(amount)
    params = [category_id, money, order_id, OrderStatus.COMPLETED]
    if connection.vendor != "postgresql":
        return _upsert_and_move(_upsert_sql(from_order=True), params, category_id, money)
    rows = run_prepared(_line_spend_sql(), [*params, money, *[category_id] * 4, _adapt_now()])
    return rows[0][0] if rows else None


@functools.cache
def _line_spend_sql() -> str:
    """PostgreSQL: a new line's upsert and the move of its customer's summary in one statement."""
    metrics = CustomerMetrics._meta.db_table
    move = _move_sql("up.lines", "up.spend", f"FROM up WHERE {metrics}.customer_id = up.customer_id")
    return f"WITH up AS ({_upsert_sql(from_order=True)}), moved AS ({move}) SELECT customer_id FROM up"


def _upsert_and_move(upsert: str, params: list, category_id: int, money) -> int | None:
    """The upsert of a category row, then the move of the customer's summary by what it returned: its customer."""
    rows = run_prepared(upsert, params)
    if not rows:
        return None
    customer_id, lines, spend = rows[0]
    spend = _adapt_money(_money(spend))
    top = [spend, spend, category_id]
    run_prepared(_move_sql("%s", "%s", "WHERE customer_id = %s"),
                 [lines, money, *top, category_id, *top, category_id, spend, _adapt_now(), customer_id])
    return customer_id


def _adapt_money(amount: Decimal):
    return connection.ops.adapt_decimalfield_value(amount, 14, 2)


def _adapt_now():
    return connection.ops.adapt_datetimefield_value(timezone.now())


def add_category_spend(customer_id: int, category_id: int, amount: Decimal, sign: int) -> None:
    """Add (sign=1) or take away (sign=-1) one line's spend in a category, and update the summary."""
    if sign > 0:
        _add_spend(customer_id, category_id, amount)
        return
    with transaction.atomic(savepoint=False):
        _take_spend(customer_id, category_id, amount)


@functools.cache
def _take_spend_sql() -> tuple[str, str, str]:
    """Three statements that take one line's spend away: lower its category row (returning the lines left), delete
    the row when none is left, and move the customer's summary; the top category, when it is the one that shrank, is
    looked for again among the customer's few category rows (the most spend, ties: the smallest id)."""
    spend, metrics = CustomerCategorySpend._meta.db_table, CustomerMetrics._meta.db_table
    greatest = "GREATEST" if connection.vendor == "postgresql" else "MAX"   # SQLite's MAX of two values
    best = f"FROM {spend} WHERE customer_id = %s ORDER BY spend DESC, category_id LIMIT 1"
    return (
        f"UPDATE {spend} SET lines = lines - 1, spend = ROUND(spend - %s, 2)"
        " WHERE customer_id = %s AND category_id = %s RETURNING lines",
        f"DELETE FROM {spend} WHERE customer_id = %s AND category_id = %s",
        f"UPDATE {metrics} SET categories = {greatest}(categories - %s, 0),"
        " category_spend = ROUND(category_spend - %s, 2),"
        f" top_category_spend = CASE WHEN top_category_id = %s THEN COALESCE((SELECT spend {best}), 0)"
        " ELSE top_category_spend END,"
        f" top_category_id = CASE WHEN top_category_id = %s THEN (SELECT category_id {best}) ELSE top_category_id END,"
        " updated_at = %s WHERE customer_id = %s",
    )


def _take_spend(customer_id: int, category_id: int, amount: Decimal) -> None:
    """One line's spend taken away from a customer's category row and summary, in two or three statements."""
    lower, delete, move = _take_spend_sql()
    money = _adapt_money(amount)
    rows = run_prepared(lower, [money, customer_id, category_id])
    if not rows:
        return
    removed = rows[0][0] <= 0
    if removed:
        run_prepared(delete, [customer_id, category_id])
    run_prepared(move, [1 if removed else 0, money, category_id, customer_id, category_id, customer_id,
                        _adapt_now(), customer_id])


def _move_lines(order_id: int, customer_id: int, sign: int) -> None:
    """Add or take away the category spend of all lines of one order."""
    for category_id, quantity, unit_price in run_prepared(
            f"SELECT category_id, quantity, unit_price FROM {OrderLine._meta.db_table}"
            " WHERE order_id = %s AND category_id IS NOT NULL", [order_id]):
        add_category_spend(customer_id, category_id, _line_total(quantity, unit_price), sign)


# --- receivers -----------------------------------------------------------------------------------------

def _order_state(order: Order) -> dict:
    return {"customer_id": order.customer_id, "ordered_at": _moment(order.ordered_at),
            "amount": _money(order.amount), "status": order.status}


def remember_order(sender, instance: Order, raw: bool = False, **kwargs) -> None:
    instance._segments_before = None
    if instance.pk is not None and not raw:   # the order as stored, before this save (a prepared read)
        rows = run_prepared(f"SELECT customer_id, ordered_at, amount, status FROM {Order._meta.db_table}"
                            " WHERE id = %s", [instance.pk])
        if rows:
            customer_id, ordered_at, amount, status = rows[0]
            instance._segments_before = {"customer_id": customer_id, "ordered_at": read_moment(ordered_at),
                                         "amount": _money(amount), "status": status}


def order_saved(sender, instance: Order, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    old = getattr(instance, "_segments_before", None)
    instance._segments_before = None
    new = _order_state(instance)
    old_counted = old is not None and old["status"] == OrderStatus.COMPLETED
    new_counted = new["status"] == OrderStatus.COMPLETED
    if old is None:  # a new order: nothing to take away; add_order needs no outer transaction
        if new_counted:
            add_order(new["customer_id"], new["ordered_at"], new["amount"], instance.pk)
            follow(new["customer_id"])
        return
    with transaction.atomic(savepoint=False):
        if old_counted or new_counted:  # inside the transaction: at its commit, after the changes below
            follow(old["customer_id"])
            follow(new["customer_id"])
        if old_counted and new_counted and old["customer_id"] == new["customer_id"] \
                and old["ordered_at"] == new["ordered_at"]:
            if old["amount"] != new["amount"]:
                _change_amount(new["customer_id"], new["ordered_at"], new["amount"] - old["amount"])
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
        follow(instance.customer_id)


def _line_contribution(line_values: dict | None) -> tuple[int, int, Decimal] | None:
    """(customer, category, amount) a line adds to category spend, or None if it adds nothing."""
    if line_values is None or line_values["category_id"] is None:
        return None
    order = run_prepared(f"SELECT customer_id, status FROM {Order._meta.db_table} WHERE id = %s",
                         [line_values["order_id"]])
    if not order or order[0][1] != OrderStatus.COMPLETED:
        return None
    return (order[0][0], line_values["category_id"],
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
    if old is None:   # it added nothing before (a new line, usually): the statement that adds reads its order
        if instance.category_id is not None:
            with transaction.atomic(savepoint=False):
                follow(_add_line_spend(instance.order_id, instance.category_id,
                                       _line_total(instance.quantity, instance.unit_price)))
        return
    new = _line_contribution(_line_values(instance))
    if old == new:
        return
    with transaction.atomic(savepoint=False):
        if old is not None:
            add_category_spend(old[0], old[1], old[2], -1)
            follow(old[0])
        if new is not None:
            add_category_spend(new[0], new[1], new[2], 1)
            follow(new[0])


def line_deleted(sender, instance: OrderLine, **kwargs) -> None:
    # When the order itself is being deleted its row is still there (lines go first), so this still
    # sees whether the order counted.
    old = _line_contribution(_line_values(instance))
    if old is not None:
        add_category_spend(old[0], old[1], old[2], -1)
        follow(old[0])


def connect() -> None:
    """Called from SegmentsConfig.ready()."""
    pre_save.connect(remember_order, sender=Order, dispatch_uid="segments.remember_order")
    post_save.connect(order_saved, sender=Order, dispatch_uid="segments.order_saved")
    post_delete.connect(order_deleted, sender=Order, dispatch_uid="segments.order_deleted")
    pre_save.connect(remember_line, sender=OrderLine, dispatch_uid="segments.remember_line")
    post_save.connect(line_saved, sender=OrderLine, dispatch_uid="segments.line_saved")
    post_delete.connect(line_deleted, sender=OrderLine, dispatch_uid="segments.line_deleted")
    customers_merged.connect(customers_were_merged, dispatch_uid="segments.refresh_after_merge")


def customers_were_merged(sender, kept, **kwargs) -> None:
    """A merge moves orders with update(), which the order signals do not see: recompute the kept customer."""
    from .pipeline import refresh_customers

    refresh_customers([kept.pk])
