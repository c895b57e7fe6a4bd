"""A customer's classes follow its orders (分层随订单更新).

When an order is added, changed, refunded or deleted, the signals (``signals.py``) keep the customer's
metrics current and then ask for :func:`follow`: at the commit of that write (once per customer and
transaction, however many orders and lines it touched) the customer's CustomerSegment row is computed
again, as of today, against the latest run — that run's thresholds, its RFM references and its cut-offs
for the ranked classes (quintile scores, ABC, share tiers; ``SegmentRun.cutoffs``) — with the engine's
own rules (:func:`kehu.segments.engine.classify.classify_customer`), and the churn and value forecast
from the parameters that run fitted (``SegmentRun.value_model``), without fitting again. Bulk writes
(imports, merges) reach the same code through :func:`kehu.segments.pipeline.refresh_customers`.

What only a full run changes — the thresholds, the references and cut-offs, the fitted models, the
class counts of the dashboard — stays that run's, and the customer page says from which day. A customer
who had no class row (new, or classified before any run) gets one as soon as a run exists. A run made
before cut-offs were stored has none: its customers keep their classes until the next run.

Work per customer: three indexed reads (the run is cached until another one finishes), the engine's
rules on plain values, and one or two writes.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

from django.db import connection, transaction
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderStatus

from .engine import clv
from .engine import metrics as engine_metrics
from .engine.classify import References, Thresholds, classify_customer
from .engine.clv_data import unit_days
from .models import CLASS_NAMES, CustomerMetrics, CustomerSegment, SegmentRun, SegmentSnapshot, class_code

CENT = Decimal("0.01")
HORIZONS_DAYS = clv.DEFAULT_HORIZONS_DAYS


# --- the run ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RunBasis:
    """What a full run left for classifying one customer later: parsed once per run."""

    run_id: int
    as_of: datetime.date
    thresholds: Thresholds
    references: References
    cutoffs: dict[str, list]
    purchases: Any   # a purchase-model fit of engine.clv, or None when the run could not fit one
    spend: Any       # a Gamma-Gamma fit, or None
    months: int
    monthly_discount: float


_cache: dict[tuple, RunBasis | None] = {}


def _fit(summary: dict | None, time_unit: str) -> Any:
    """The fit object of engine.clv that a run's ``value_model`` entry describes, or None if not fitted.

    The class is found by its model name among the fits engine.clv offers, so a model added there is
    picked up as it is.
    """
    if not summary or not summary.get("fitted"):
        return None
    classes = (*get_args(clv.PurchaseFit), *(get_args(clv.SpendFit) or (clv.SpendFit,)))
    by_name = {cls.model: cls for cls in classes}
    cls = by_name.get(summary.get("model"))
    if cls is None:
        return None
    return cls(**summary["params"], log_likelihood=summary.get("log_likelihood", 0.0), time_unit=time_unit,
               n_customers=summary.get("n_customers", 0), n_repeat_buyers=summary.get("n_repeat_buyers", 0))


def latest_basis(day: datetime.date | None = None) -> RunBasis | None:
    """The latest run on or before `day` (default today) as a RunBasis; None without one or its cut-offs."""
    day = day or today()
    with connection.cursor() as cursor:  # on every order: the cursor, without the ORM's cost
        cursor.execute(f"SELECT id, finished_at FROM {SegmentRun._meta.db_table} WHERE as_of <= %s"
                       " ORDER BY as_of DESC LIMIT 1", [connection.ops.adapt_datefield_value(day)])
        key = cursor.fetchone()
    if key is None:
        return None
    if key not in _cache:
        run = SegmentRun.objects.get(pk=key[0])
        basis = None
        if run.cutoffs:
            model = run.value_model or {}
            unit = model.get("time_unit", "days")
            basis = RunBasis(run.pk, run.as_of, run.threshold_values, run.reference_values, run.cutoffs,
                             _fit(model.get("purchases"), unit), _fit(model.get("spend"), unit),
                             int(model.get("months", 12)),
                             float(model.get("monthly_discount", run.threshold_values.monthly_discount)))
        _cache.clear()
        _cache[key] = basis
    return _cache[key]


# --- one customer ----------------------------------------------------------------------------------------

def _cents(value: Decimal | None) -> int:
    return int((value or Decimal(0)) * 100)


def _yuan(cents: float | None) -> Decimal | None:
    if cents is None or not math.isfinite(cents):
        return None
    return (Decimal(round(cents)) / 100).quantize(CENT)


@dataclass(frozen=True)
class Day:
    """The day classified and the moments its windows begin (computed once for many customers)."""

    as_of: datetime.date
    zone: datetime.tzinfo
    trend_middle: datetime.datetime     # the last `trend_months` months begin here
    trend_since: datetime.datetime      # and the `trend_months` before them here
    window_since: datetime.datetime | None   # F and M over a window of months (Thresholds.window_months)

    @classmethod
    def of(cls, as_of: datetime.date, t: Thresholds) -> Day:
        zone = timezone.get_current_timezone()

        def start(months: int) -> datetime.datetime:
            """Midnight after the day `months` months before: where a window of that many months begins."""
            day = engine_metrics.months_before(as_of, months) + datetime.timedelta(days=1)
            return datetime.datetime.combine(day, datetime.time.min).replace(tzinfo=zone)

        return cls(as_of, zone, start(t.trend_months), start(2 * t.trend_months),
                   start(t.window_months) if t.window_months else None)

    @property
    def since(self) -> datetime.datetime:
        """The earliest moment whose orders matter."""
        return min(self.trend_since, self.window_since or self.trend_since)

    def local(self, moment: datetime.datetime) -> datetime.date:
        return moment.astimezone(self.zone).date()


def _moment(value: Any) -> datetime.datetime:
    """A timestamp as read through the cursor (naive UTC on SQLite) as an aware datetime."""
    return value if timezone.is_aware(value) else value.replace(tzinfo=datetime.UTC)


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _marks(ids: list[int]) -> str:
    return ", ".join(["%s"] * len(ids))


_METRIC_FIELDS = ("customer_id", "first_order_at", "last_order_at", "frequency", "monetary", "interval_sq_sum",
                  "category_spend", "top_category_id", "top_category_spend", "purchase_days", "first_day_spend")


def _read_metrics(customer_ids: list[int]) -> dict[int, tuple[CustomerMetrics, str | None]]:
    """The maintained metrics of some customers and the name of each one's top category: one query."""
    sql = (f"SELECT {', '.join('m.' + f for f in _METRIC_FIELDS)}, c.name FROM {CustomerMetrics._meta.db_table} m"
           f" LEFT JOIN {Category._meta.db_table} c ON c.id = m.top_category_id"
           f" WHERE m.customer_id IN ({_marks(customer_ids)})")
    found = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, customer_ids)
        for row in cursor.fetchall():
            values = dict(zip(_METRIC_FIELDS, row[:-1], strict=True))
            for name in ("first_order_at", "last_order_at"):
                values[name] = _moment(values[name])
            for name in ("monetary", "category_spend", "top_category_spend", "first_day_spend"):
                values[name] = _money(values[name])
            found[values["customer_id"]] = (CustomerMetrics(**values), row[-1])
    return found


def _orders_since(customer_ids: list[int], since: datetime.datetime) -> dict[int, list[tuple]]:
    """(ordered_at, amount cents) of the counted orders of some customers since a moment: one indexed query."""
    sql = (f"SELECT customer_id, ordered_at, amount FROM {Order._meta.db_table}"
           f" WHERE customer_id IN ({_marks(customer_ids)}) AND ordered_at >= %s AND status = %s")
    found: dict[int, list[tuple]] = {}
    with connection.cursor() as cursor:
        cursor.execute(sql, [*customer_ids, connection.ops.adapt_datetimefield_value(since), OrderStatus.COMPLETED])
        for customer_id, moment, amount in cursor.fetchall():
            found.setdefault(customer_id, []).append((_moment(moment), _cents(_money(amount))))
    return found


def _metric_row(customer_id: int, metrics: CustomerMetrics | None, top_category: str | None, day: Day,
                recent: list[tuple]) -> dict[str, Any]:
    """The engine's metric columns of one customer (as engine.metrics.derive_metrics gives them), from its
    maintained metrics and its recent orders."""
    if metrics is None or not metrics.frequency:
        return {"customer_id": customer_id, "recency_days": None, "frequency": 0, "monetary_cents": 0}
    row = {
        "customer_id": customer_id, "recency_days": (day.as_of - day.local(metrics.last_order_at)).days,
        "tenure_days": (day.as_of - day.local(metrics.first_order_at)).days, "frequency": metrics.frequency,
        "monetary_cents": _cents(metrics.monetary), "mean_interval_days": metrics.mean_interval_days,
        "std_interval_days": metrics.std_interval_days, "category_cents": _cents(metrics.category_spend),
        "top_category_cents": _cents(metrics.top_category_spend), "top_category": top_category,
        "spend_recent_cents": sum(c for moment, c in recent if moment >= day.trend_middle),
        "spend_previous_cents": sum(c for moment, c in recent if day.trend_since <= moment < day.trend_middle),
    }
    if day.window_since is not None:  # F and M count the window's orders; the purchase rhythm the whole history
        window = [c for moment, c in recent if moment >= day.window_since]
        row |= {"lifetime_frequency": metrics.frequency, "frequency": len(window), "monetary_cents": sum(window)}
    return row


NO_VALUE = {"p_alive": None, "expected_purchases_30d": None, "expected_purchases_90d": None,
            "expected_purchases_365d": None, "expected_spend": None, "clv": None, "value_at_risk": None}


def _value_columns(basis: RunBasis, metrics: CustomerMetrics, row: dict[str, Any]) -> dict[str, Any]:
    """P(alive), expected purchases, expected spend, 12-month value and value at risk of a buyer from the
    run's fits (as pipeline.value_forecast gives them); None where a model was not fitted."""
    if not metrics.purchase_days or (basis.purchases is None and basis.spend is None):
        return NO_VALUE
    unit = unit_days(basis.purchases.time_unit if basis.purchases is not None else "days")
    x = metrics.purchase_days - 1
    t_x, T = (row["tenure_days"] - row["recency_days"]) / unit, row["tenure_days"] / unit
    m = float(metrics.monetary - metrics.first_day_spend) / x if x > 0 else 0.0
    values = dict(NO_VALUE)
    spend_ok = basis.spend is not None
    if spend_ok:
        expected_spend = float(basis.spend.expected_spend(x, m))
        spend_ok = math.isfinite(expected_spend)
        if spend_ok:
            values["expected_spend"] = _yuan(expected_spend * 100)
    if basis.purchases is None:
        return values
    p_alive = float(basis.purchases.p_alive(x, t_x, T))
    expected = [float(basis.purchases.expected_purchases(h / unit, x, t_x, T)) for h in HORIZONS_DAYS]
    if not all(math.isfinite(v) for v in (p_alive, *expected)):
        return values
    values |= {"p_alive": round(p_alive, 6),
               **{f"expected_purchases_{h}d": round(v, 6) for h, v in zip(HORIZONS_DAYS, expected, strict=True)}}
    if spend_ok:
        if_alive = float(clv.customer_value(basis.purchases, basis.spend, x, t_x, T, m, months=basis.months,
                                            monthly_discount=basis.monthly_discount, if_alive=True))
        values |= {"clv": _yuan(p_alive * if_alive * 100), "value_at_risk": _yuan((1 - p_alive) * if_alive * 100)}
    else:  # without a spend model the value at risk is the historical spend at stake
        values["value_at_risk"] = _yuan((1 - p_alive) * float(metrics.monetary) * 100)
    return values


def segment_values(customer_id: int, metrics: CustomerMetrics | None, top_category: str | None, basis: RunBasis,
                   day: Day, recent: list[tuple]) -> dict[str, Any]:
    """The CustomerSegment fields of one customer as of `day`, against the run of `basis`."""
    row = _metric_row(customer_id, metrics, top_category, day, recent)
    classes = classify_customer(row, basis.thresholds, basis.references, basis.cutoffs,
                                days_since_run=(day.as_of - basis.as_of).days)
    buyer = row["recency_days"] is not None
    return {
        "as_of": day.as_of, "recency_days": row["recency_days"], "tenure_days": row.get("tenure_days"),
        "frequency": row["frequency"], "monetary": _yuan(row["monetary_cents"]),
        "avg_order_value": _yuan(row["monetary_cents"] / row["frequency"]) if row["frequency"] else None,
        "mean_interval_days": row.get("mean_interval_days"), "std_interval_days": row.get("std_interval_days"),
        "spend_recent": _yuan(row.get("spend_recent_cents", 0)),
        "spend_previous": _yuan(row.get("spend_previous_cents", 0)),
        **classes, **(_value_columns(basis, metrics, row) if buyer else NO_VALUE),
    }


def reclassify(customer_ids: Iterable[int], chunk: int = 500) -> int:
    """Classify some customers again against the latest run (see the module docstring); returns how many.

    Nothing happens before the first run (or after a run made before cut-offs were stored). Customers
    that no longer exist are skipped.
    """
    ids = sorted(set(customer_ids))
    basis = latest_basis()
    if basis is None or not ids:
        return 0
    day = Day.of(today(), basis.thresholds)
    done = 0
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        metrics = _read_metrics(part)
        recent = _orders_since(part, day.since)
        # One customer whose run is of another day is one UPDATE, which needs no transaction around it.
        with transaction.atomic() if len(part) > 1 or basis.as_of == day.as_of else nullcontext():
            for customer_id in part:
                found, top_category = metrics.get(customer_id, (None, None))
                values = segment_values(customer_id, found, top_category, basis, day, recent.get(customer_id, []))
                done += _store(customer_id, values, basis)
    return done


_SEGMENT_FIELDS = [f for f in CustomerSegment._meta.concrete_fields if f.name != "customer"]
_SNAPSHOT_FIELDS = [SegmentSnapshot._meta.get_field(name) for name in ("r_score", "f_score", "m_score", *CLASS_NAMES,
                                                                        "overdue")]


def _adapt(value: Any) -> Any:
    """A value as the database driver takes it (dates as the backend writes them; the rest as they are)."""
    return connection.ops.adapt_datefield_value(value) if type(value) is datetime.date else value


def _write(model: type, fields: list, values: dict[str, Any], where: dict[str, Any]) -> bool:
    """Bring one row of `model` to `values`; False if there is no such row.

    On SQLite only the columns that differ are written (each column written touches its indexes, and most
    changes leave the classes as they were). PostgreSQL skips the indexes of unchanged values itself (a
    HOT update), so there the row is written at once, without reading it first: one round trip.
    """
    condition = " AND ".join(f"{column} = %s" for column in where)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(f"UPDATE {model._meta.db_table} SET {', '.join(f'{f.column} = %s' for f in fields)}"
                           f" WHERE {condition}", [*(_adapt(values[f.name]) for f in fields), *where.values()])
            return cursor.rowcount > 0
        cursor.execute(f"SELECT {', '.join(f.column for f in fields)} FROM {model._meta.db_table}"
                       f" WHERE {condition}", list(where.values()))
        row = cursor.fetchone()
        if row is None:
            return False
        changed = [f for f, old in zip(fields, row, strict=True) if _stored(f, old) != values[f.name]]
        if changed:
            cursor.execute(f"UPDATE {model._meta.db_table} SET {', '.join(f'{f.column} = %s' for f in changed)}"
                           f" WHERE {condition}", [*(_adapt(values[f.name]) for f in changed), *where.values()])
    return True


def _stored(field: Any, value: Any) -> Any:
    """A value as read through the cursor, in the form the fields hold it (SQLite hands decimals as floats)."""
    if value is not None and field.get_internal_type() == "DecimalField":
        return _money(value)
    return value


def _store(customer_id: int, values: dict[str, Any], basis: RunBasis) -> int:
    """Write one customer's row (and its snapshot when the run is of the same day); 0 if it is gone."""
    if not _write(CustomerSegment, _SEGMENT_FIELDS, values, {"customer_id": customer_id}):
        if not Customer.objects.filter(pk=customer_id).exists():
            return 0
        CustomerSegment.objects.create(customer_id=customer_id, **values)
    if basis.as_of == values["as_of"]:  # that day has a snapshot: keep this customer's line of it current
        snapshot = {column: class_code(column, values[column]) for column in CLASS_NAMES} | {
            "r_score": values["r_score"], "f_score": values["f_score"], "m_score": values["m_score"],
            "overdue": values["overdue"]}
        if not _write(SegmentSnapshot, _SNAPSHOT_FIELDS, snapshot, {"as_of": _adapt(basis.as_of),
                                                                   "customer_id": customer_id}):
            SegmentSnapshot.objects.create(as_of=basis.as_of, customer_id=customer_id, **snapshot)
    return 1


def describes(segment: CustomerSegment, metrics: CustomerMetrics | None) -> bool:
    """Whether a class row describes the customer's orders as they are now (its maintained metrics): the
    same last purchase day and, unless F and M count a window of months, the same orders and spend."""
    if metrics is None or not metrics.frequency:
        return segment.recency_days is None
    if segment.recency_days is None:
        return False
    last_day = segment.as_of - datetime.timedelta(days=segment.recency_days)
    if last_day != timezone.localdate(metrics.last_order_at):
        return False
    run = segment.run
    if run is not None and run.threshold_values.window_months:
        return True
    return segment.frequency == metrics.frequency and segment.monetary == metrics.monetary


# --- at the commit of a write ----------------------------------------------------------------------------

def follow(customer_id: int | None) -> None:
    """Classify the customer again when the current write commits (at once outside a transaction); once
    per customer and transaction, however many orders and lines it writes.

    A failure is logged and neither undoes nor fails the write: the next run classifies the customer.
    """
    if customer_id is None:
        return
    if connection.in_atomic_block and any(getattr(func, "follows", None) == customer_id
                                          for _, func, _ in connection.run_on_commit):
        return

    def classify_again() -> None:
        classify_again.follows = None   # done: a later write asks again
        reclassify([customer_id])

    classify_again.follows = customer_id
    transaction.on_commit(classify_again, robust=True)
