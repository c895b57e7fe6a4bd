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
import logging
import math
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, get_args

from django.db import connection, transaction
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.sales.models import Order, OrderStatus

from .engine import clv
from .engine import metrics as engine_metrics
from .engine.classify import References, Thresholds, classify_customer
from .engine.clv_data import unit_days
from .models import CLASS_NAMES, CustomerMetrics, CustomerSegment, SegmentRun, SegmentSnapshot, class_code

logger = logging.getLogger(__name__)
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
    key = SegmentRun.objects.filter(as_of__lte=day).order_by("-as_of").values_list("pk", "finished_at").first()
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


def _window_start(day: datetime.date, months: int) -> datetime.datetime:
    """Midnight after the day `months` months before `day`: where a window of that many months begins."""
    start = engine_metrics.months_before(day, months) + datetime.timedelta(days=1)
    return timezone.make_aware(datetime.datetime.combine(start, datetime.time.min))


def _orders_since(customer_ids: list[int], since: datetime.datetime) -> dict[int, list[tuple]]:
    """(ordered_at, amount cents) of the counted orders of some customers since a moment."""
    found: dict[int, list[tuple]] = {}
    rows = Order.objects.filter(customer_id__in=customer_ids, status=OrderStatus.COMPLETED, ordered_at__gte=since) \
        .values_list("customer_id", "ordered_at", "amount")
    for customer_id, moment, amount in rows:
        found.setdefault(customer_id, []).append((moment, _cents(amount)))
    return found


def _metric_row(customer_id: int, metrics: CustomerMetrics | None, as_of: datetime.date, t: Thresholds,
                recent: list[tuple]) -> dict[str, Any]:
    """The engine's metric columns of one customer, from its maintained metrics and its recent orders."""
    if metrics is None or not metrics.frequency:
        return {"customer_id": customer_id, "recency_days": None, "frequency": 0, "monetary_cents": 0}
    middle = _window_start(as_of, t.trend_months)
    trend_since = _window_start(as_of, 2 * t.trend_months)
    row = {
        "customer_id": customer_id, "recency_days": metrics.recency_days(as_of),
        "tenure_days": metrics.tenure_days(as_of), "frequency": metrics.frequency,
        "monetary_cents": _cents(metrics.monetary), "mean_interval_days": metrics.mean_interval_days,
        "std_interval_days": metrics.std_interval_days, "category_cents": _cents(metrics.category_spend),
        "top_category_cents": _cents(metrics.top_category_spend),
        "top_category": metrics.top_category.name if metrics.top_category_id else None,
        "spend_recent_cents": sum(c for moment, c in recent if moment >= middle),
        "spend_previous_cents": sum(c for moment, c in recent if trend_since <= moment < middle),
    }
    if t.window_months:  # F and M count the window's orders; the purchase rhythm still the whole history
        since = _window_start(as_of, t.window_months)
        window = [c for moment, c in recent if moment >= since]
        row |= {"lifetime_frequency": metrics.frequency, "frequency": len(window), "monetary_cents": sum(window)}
    return row


def _value_columns(basis: RunBasis, metrics: CustomerMetrics | None, as_of: datetime.date) -> dict[str, Any]:
    """P(alive), expected purchases, expected spend, 12-month value and value at risk from the run's fits
    (as pipeline.value_forecast gives them); None where a model was not fitted or for a non-buyer."""
    empty = {"p_alive": None, "expected_purchases_30d": None, "expected_purchases_90d": None,
             "expected_purchases_365d": None, "expected_spend": None, "clv": None, "value_at_risk": None}
    if metrics is None or not metrics.purchase_days or (basis.purchases is None and basis.spend is None):
        return empty
    first, last = timezone.localdate(metrics.first_order_at), timezone.localdate(metrics.last_order_at)
    unit = unit_days(basis.purchases.time_unit if basis.purchases is not None else "days")
    x = metrics.purchase_days - 1
    t_x, T = (last - first).days / unit, (as_of - first).days / unit
    m = float(metrics.monetary - metrics.first_day_spend) / x if x > 0 else 0.0
    values = dict(empty)
    spend_ok = basis.spend is not None
    if spend_ok:
        expected_spend = float(basis.spend.expected_spend(x, m))
        spend_ok = math.isfinite(expected_spend)
        if spend_ok:
            values["expected_spend"] = _yuan(expected_spend * 100)
    if basis.purchases is None:
        return values
    p_alive = float(basis.purchases.p_alive(x, t_x, T)[0])
    expected = [float(basis.purchases.expected_purchases(h / unit, x, t_x, T)[0]) for h in HORIZONS_DAYS]
    if not all(math.isfinite(v) for v in (p_alive, *expected)):
        return values
    values |= {"p_alive": round(p_alive, 6),
               **{f"expected_purchases_{h}d": round(v, 6) for h, v in zip(HORIZONS_DAYS, expected, strict=True)}}
    if spend_ok:
        if_alive = float(clv.customer_value(basis.purchases, basis.spend, x, t_x, T, m, months=basis.months,
                                            monthly_discount=basis.monthly_discount, if_alive=True)[0])
        values |= {"clv": _yuan(p_alive * if_alive * 100), "value_at_risk": _yuan((1 - p_alive) * if_alive * 100)}
    else:  # without a spend model the value at risk is the historical spend at stake
        values["value_at_risk"] = _yuan((1 - p_alive) * float(metrics.monetary) * 100)
    return values


def segment_values(customer_id: int, metrics: CustomerMetrics | None, basis: RunBasis, as_of: datetime.date,
                   recent: list[tuple]) -> dict[str, Any]:
    """The CustomerSegment fields of one customer as of `as_of`, against the run of `basis`."""
    row = _metric_row(customer_id, metrics, as_of, basis.thresholds, recent)
    classes = classify_customer(row, basis.thresholds, basis.references, basis.cutoffs,
                                days_since_run=(as_of - basis.as_of).days)
    buyer = row["recency_days"] is not None
    return {
        "as_of": as_of, "recency_days": row["recency_days"], "tenure_days": row.get("tenure_days"),
        "frequency": row["frequency"], "monetary": _yuan(row["monetary_cents"]),
        "avg_order_value": _yuan(row["monetary_cents"] / row["frequency"]) if row["frequency"] else None,
        "mean_interval_days": row.get("mean_interval_days"), "std_interval_days": row.get("std_interval_days"),
        "spend_recent": _yuan(row.get("spend_recent_cents", 0)),
        "spend_previous": _yuan(row.get("spend_previous_cents", 0)),
        **classes, **_value_columns(basis, metrics if buyer else None, as_of),
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
    as_of = today()
    done = 0
    longest = max(2 * basis.thresholds.trend_months, basis.thresholds.window_months or 0)
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        metrics = {m.customer_id: m for m in CustomerMetrics.objects.filter(customer_id__in=part)
                   .select_related("top_category")}
        recent = _orders_since(part, _window_start(as_of, longest))
        with transaction.atomic():
            for customer_id in part:
                values = segment_values(customer_id, metrics.get(customer_id), basis, as_of,
                                        recent.get(customer_id, []))
                done += _store(customer_id, values, basis)
    return done


def _store(customer_id: int, values: dict[str, Any], basis: RunBasis) -> int:
    """Write one customer's row (and its snapshot when the run is of the same day); 0 if it is gone."""
    if not CustomerSegment.objects.filter(pk=customer_id).update(**values):
        if not Customer.objects.filter(pk=customer_id).exists():
            return 0
        CustomerSegment.objects.create(customer_id=customer_id, **values)
    if basis.as_of == values["as_of"]:  # that day has a snapshot: keep this customer's line of it current
        snapshot = {column: class_code(column, values[column]) for column in CLASS_NAMES} | {
            "r_score": values["r_score"], "f_score": values["f_score"], "m_score": values["m_score"],
            "overdue": values["overdue"]}
        if not SegmentSnapshot.objects.filter(as_of=basis.as_of, customer_id=customer_id).update(**snapshot):
            SegmentSnapshot.objects.create(as_of=basis.as_of, customer_id=customer_id, **snapshot)
    return 1


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
        reclassify([customer_id])

    classify_again.follows = customer_id
    transaction.on_commit(classify_again, robust=True)
