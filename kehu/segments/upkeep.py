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

Work per customer: one statement reads everything (the latest run's key — its thresholds, cut-offs and
fits are parsed once per run and process —, the metrics, the sums of the recent orders, the stored class
row and snapshot line where they are compared here); the engine's rules run on plain values and the forecast curve
is one vectorised call; then what changed is written (:func:`_store`: one statement on PostgreSQL, none to two on
SQLite).
"""

from __future__ import annotations

import datetime
import functools
import math
from collections.abc import Iterable
from contextlib import nullcontext
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib.commits import before_commit
from kehu.lib.dates import today
from kehu.lib.db import recomputable_write, run_prepared
from kehu.sales.models import Category, Order, OrderStatus

from .engine import clv
from .engine import metrics as engine_metrics
from .engine.classify import References, Thresholds, classify_customer
from .engine.clv_data import unit_days
from .engine.metrics import SECONDS_PER_DAY
from .models import CLASS_NAMES, CustomerMetrics, CustomerSegment, SegmentRun, SegmentSnapshot, class_code
from .pipeline import _cents as cents_sql
from .pipeline import _epoch_us as epoch_us_sql
from .signals import EPOCH, epoch_seconds

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
_days: dict[datetime.date, Day] = {}   # the days classified against the cached run


def _run_key_sql() -> str:
    return (f"SELECT id, {epoch_us_sql('finished_at')} AS finished_us, as_of FROM {SegmentRun._meta.db_table}"
            " WHERE as_of <= %s"
            " ORDER BY as_of DESC LIMIT 1")


def latest_basis(day: datetime.date | None = None) -> RunBasis | None:
    """The latest run on or before `day` (default today) as a RunBasis; None without one or its cut-offs."""
    day = day or today()
    with connection.cursor() as cursor:  # on every call: the cursor, without the ORM's cost
        cursor.execute(_run_key_sql(), [connection.ops.adapt_datefield_value(day)])
        key = cursor.fetchone()
    return None if key is None else _basis(key[:2])


def _basis(key: tuple) -> RunBasis | None:
    """The RunBasis of a run by its (id, finished_at in µs): parsed once, kept until another run is asked for
    (a run finishing again changes its finished_at, so every process sees a new run at its next order)."""
    if key not in _cache:
        run = SegmentRun.objects.get(pk=key[0])
        basis = None
        if run.cutoffs:
            model = run.value_model or {}
            unit = model.get("time_unit", "days")
            basis = RunBasis(run.pk, run.as_of, run.threshold_values, run.reference_values, run.cutoffs,
                             clv.fit_from(model.get("purchases"), unit), clv.fit_from(model.get("spend"), unit),
                             int(model.get("months", 12)),
                             float(model.get("monthly_discount", run.threshold_values.monthly_discount)))
        _cache.clear()
        _days.clear()
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

    @classmethod
    def cached(cls, as_of: datetime.date, basis: RunBasis) -> Day:
        """Day.of for the run of `basis`, computed once per day."""
        if as_of not in _days:
            _days[as_of] = cls.of(as_of, basis.thresholds)
        return _days[as_of]

    @property
    def since(self) -> datetime.datetime:
        """The earliest moment whose orders matter."""
        return min(self.trend_since, self.window_since or self.trend_since)

    @functools.cached_property
    def bounds(self) -> list:
        """The moments of the order sums of :func:`_read` and the earliest one, as the database takes them
        (computed once)."""
        at = connection.ops.adapt_datetimefield_value
        window = self.window_since or self.since
        return [at(self.trend_middle), at(self.trend_since), at(self.trend_middle), at(window), at(window),
                at(self.since)]

    def local(self, moment: datetime.datetime) -> datetime.date:
        return moment.astimezone(self.zone).date()


def _money(value: Any) -> Decimal:
    return Decimal(str(value)).quantize(CENT)


def _marks(items: list[Any]) -> str:
    return ", ".join(["%s"] * len(items))


_METRIC_FIELDS = ("first_order_at", "last_order_at", "frequency", "monetary", "interval_sq_sum", "category_spend",
                  "top_category_spend", "purchase_days", "first_day_spend")
_MOMENTS = ("first_order_at", "last_order_at")
_SEGMENT_FIELDS = [f for f in CustomerSegment._meta.concrete_fields if f.name != "customer"]
# Written with any change of the others, never for themselves: the day of the change, and no fingerprint (the next
# run writes the row again).
_WITH_A_CHANGE = ("changed_on", "fingerprint")
_SNAPSHOT_FIELDS = [SegmentSnapshot._meta.get_field(name) for name in ("r_score", "f_score", "m_score", *CLASS_NAMES,
                                                                        "overdue")]
_SEGMENT_NAMES, _SNAPSHOT_NAMES = [f.name for f in _SEGMENT_FIELDS], [f.name for f in _SNAPSHOT_FIELDS]
_ORDER_SUMS = ("recent", "previous", "window_orders", "window_cents")


@dataclass
class Found:
    """What the one read of :func:`_read` gives of one customer."""

    run_key: tuple                  # (id, finished_at in µs) of the latest run
    metrics: dict[str, Any] | None  # the maintained metrics (None: no row)
    top_category: str | None
    sums: dict[str, int]            # cents of the counted orders in the trend and F/M windows (_ORDER_SUMS)
    segment: tuple | None           # the stored class row (_SEGMENT_FIELDS), None if there is none or it is not read
    snapshot: tuple | None          # its line in the snapshot of the run's day (_SNAPSHOT_FIELDS), likewise


@functools.cache
def _read_sql(n: int, stored: bool) -> str:
    """One statement for everything the upkeep of `n` customers reads: the latest run's key, each customer's
    metrics and top category, the sums of its orders in the windows of the day and, when `stored`, its class row
    and its line of the run's snapshot. Customers that no longer exist give no row."""
    cents, marks = cents_sql("amount"), _marks(list(range(n)))
    from_run = _run_key_sql()
    metric_columns = [epoch_us_sql(f"m.{f}") if f in _MOMENTS else f"m.{f}" for f in _METRIC_FIELDS]
    columns = (f"SELECT cu.id, r.id, r.finished_us, {', '.join(metric_columns)}, c.name,"
               f" {', '.join('o.' + f for f in _ORDER_SUMS)}")
    joins = ""
    if stored:
        columns += (f", s.customer_id, {', '.join('s.' + f.column for f in _SEGMENT_FIELDS)},"
                    f" sn.customer_id, {', '.join('sn.' + f.column for f in _SNAPSHOT_FIELDS)}")
        joins = (f" LEFT JOIN {CustomerSegment._meta.db_table} s ON s.customer_id = cu.id"
                 f" LEFT JOIN {SegmentSnapshot._meta.db_table} sn ON sn.customer_id = cu.id AND sn.as_of = r.as_of")
    return (
        f"{columns} FROM {Customer._meta.db_table} cu CROSS JOIN ({from_run}) r"
        f" LEFT JOIN {CustomerMetrics._meta.db_table} m ON m.customer_id = cu.id"
        f" LEFT JOIN {Category._meta.db_table} c ON c.id = m.top_category_id"
        f" LEFT JOIN (SELECT customer_id,"
        f" SUM(CASE WHEN ordered_at >= %s THEN {cents} ELSE 0 END) AS recent,"
        f" SUM(CASE WHEN ordered_at >= %s AND ordered_at < %s THEN {cents} ELSE 0 END) AS previous,"
        f" SUM(CASE WHEN ordered_at >= %s THEN 1 ELSE 0 END) AS window_orders,"
        f" SUM(CASE WHEN ordered_at >= %s THEN {cents} ELSE 0 END) AS window_cents"
        f" FROM {Order._meta.db_table} WHERE customer_id IN ({marks}) AND status = %s AND ordered_at >= %s"
        f" GROUP BY customer_id) o ON o.customer_id = cu.id{joins}"
        f" WHERE cu.id IN ({marks})"
    )


def _compared_in_python() -> bool:
    """Whether the stored class row and snapshot line are read and compared here (SQLite: only the columns that
    changed are written), or the write compares them itself (PostgreSQL: an upsert that leaves an unchanged row
    alone, so the read loads some 60 columns fewer and nothing is compared in Python)."""
    return connection.vendor != "postgresql"


def _read(customer_ids: list[int], day: Day) -> dict[int, Found]:
    """The one read of the upkeep of some customers (see :func:`_read_sql`), as of `day`."""
    *sums, since = day.bounds
    params = [connection.ops.adapt_datefield_value(day.as_of), *sums, *customer_ids, OrderStatus.COMPLETED, since,
              *customer_ids]
    n_metrics, n_segment = len(_METRIC_FIELDS), len(_SEGMENT_FIELDS)
    stored = _compared_in_python()
    found = {}
    for row in run_prepared(_read_sql(len(customer_ids), stored), params):
        customer_id, run_key, row = row[0], row[1:3], row[3:]
        metrics, top_category, row = row[:n_metrics], row[n_metrics], row[n_metrics + 1:]
        sums, row = row[:len(_ORDER_SUMS)], row[len(_ORDER_SUMS):]
        segment, snapshot = row[:n_segment + 1], row[n_segment + 1:]
        if metrics[0] is None:
            metrics = None
        else:
            metrics = dict(zip(_METRIC_FIELDS, metrics, strict=True))
            for name in _MOMENTS:   # read as integer µs: no timestamp text parsed (on PostgreSQL, by Django's loader)
                metrics[name] = EPOCH + datetime.timedelta(microseconds=metrics[name])
            for name in ("monetary", "category_spend", "top_category_spend", "first_day_spend"):
                metrics[name] = _money(metrics[name])
        sums = {name: int(value or 0) for name, value in zip(_ORDER_SUMS, sums, strict=True)}
        found[customer_id] = Found(   # without `stored` the row ends with the sums: no class row, no line
            run_key, metrics, top_category, sums,
            segment[1:] if segment and segment[0] is not None else None,
            snapshot[1:] if snapshot and snapshot[0] is not None else None)
    return found


def _metric_row(customer_id: int, found: Found, day: Day) -> dict[str, Any]:
    """The engine's metric columns of one customer (as engine.metrics.derive_metrics gives them, with its
    float arithmetic), from its maintained metrics and the sums of its recent orders."""
    metrics = found.metrics
    if metrics is None or not metrics["frequency"]:
        return {"customer_id": customer_id, "recency_days": None, "frequency": 0, "monetary_cents": 0}
    orders = metrics["frequency"]
    gaps = float(orders - 1)
    span = float(epoch_seconds(metrics["last_order_at"]) - epoch_seconds(metrics["first_order_at"]))
    std = None
    if orders >= 3:
        variance = (float(metrics["interval_sq_sum"]) - span * span / gaps) / (gaps - 1)
        std = math.sqrt(max(variance, 0.0)) / SECONDS_PER_DAY
    row = {
        "customer_id": customer_id, "recency_days": (day.as_of - day.local(metrics["last_order_at"])).days,
        "tenure_days": (day.as_of - day.local(metrics["first_order_at"])).days, "frequency": orders,
        "monetary_cents": _cents(metrics["monetary"]),
        "mean_interval_days": span / gaps / SECONDS_PER_DAY if orders >= 2 else None, "std_interval_days": std,
        "category_cents": _cents(metrics["category_spend"]),
        "top_category_cents": _cents(metrics["top_category_spend"]), "top_category": found.top_category,
        "spend_recent_cents": found.sums["recent"], "spend_previous_cents": found.sums["previous"],
    }
    if day.window_since is not None:  # F and M count the window's orders; the purchase rhythm the whole history
        row |= {"lifetime_frequency": orders, "frequency": found.sums["window_orders"],
                "monetary_cents": found.sums["window_cents"]}
    return row


NO_VALUE = {"p_alive": None, "expected_purchases_30d": None, "expected_purchases_90d": None,
            "expected_purchases_365d": None, "expected_spend": None, "clv": None, "value_at_risk": None}


def _value_columns(basis: RunBasis, metrics: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """P(alive), expected purchases, expected spend, 12-month value and value at risk of a buyer from the
    run's fits, with the arithmetic of pipeline.value_forecast (clv.forecast); None where a model was not
    fitted. The purchase curve is one vectorised call over the horizons and the months."""
    if not metrics["purchase_days"] or (basis.purchases is None and basis.spend is None):
        return NO_VALUE
    unit = unit_days(basis.purchases.time_unit if basis.purchases is not None else "days")
    x = metrics["purchase_days"] - 1
    t_x, T = (row["tenure_days"] - row["recency_days"]) / unit, row["tenure_days"] / unit
    m = float(metrics["monetary"] - metrics["first_day_spend"]) / x if x > 0 else 0.0
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
    month = clv.DAYS_PER_MONTH / unit
    times = [h / unit for h in HORIZONS_DAYS] + [k * month for k in range(1, basis.months + 1)]
    curve = basis.purchases.expected_purchases_if_alive(np.array(times), x, 0.0, T).tolist()
    expected = [p_alive * v for v in curve[:len(HORIZONS_DAYS)]]
    if not all(math.isfinite(v) for v in (p_alive, *curve)):
        return values
    values |= {"p_alive": round(p_alive, 6),
               **{f"expected_purchases_{h}d": round(v, 6) for h, v in zip(HORIZONS_DAYS, expected, strict=True)}}
    if spend_ok:
        discounted, previous = 0.0, 0.0
        for k, current in enumerate(curve[len(HORIZONS_DAYS):], start=1):
            discounted += (current - previous) / (1.0 + basis.monthly_discount) ** k
            previous = current
        if_alive = discounted * expected_spend
        values |= {"clv": _yuan(p_alive * if_alive * 100), "value_at_risk": _yuan((1 - p_alive) * if_alive * 100)}
    else:  # without a spend model the value at risk is the historical spend at stake
        values["value_at_risk"] = _yuan((1 - p_alive) * float(metrics["monetary"]) * 100)
    return values


def segment_values(customer_id: int, found: Found, basis: RunBasis, day: Day) -> dict[str, Any]:
    """The CustomerSegment fields of one customer as of `day`, against the run of `basis`."""
    row = _metric_row(customer_id, found, day)
    classes = classify_customer(row, basis.thresholds, basis.references, basis.cutoffs,
                                days_since_run=(day.as_of - basis.as_of).days)
    buyer = row["recency_days"] is not None
    first, last = ((day.local(found.metrics["first_order_at"]), day.local(found.metrics["last_order_at"])) if buyer
                   else (None, None))
    return {
        "changed_on": day.as_of, "first_order_day": first, "last_order_day": last, "fingerprint": None,
        "frequency": row["frequency"], "monetary": _yuan(row["monetary_cents"]),
        "avg_order_value": _yuan(row["monetary_cents"] / row["frequency"]) if row["frequency"] else None,
        "mean_interval_days": row.get("mean_interval_days"), "std_interval_days": row.get("std_interval_days"),
        "spend_recent": _yuan(row.get("spend_recent_cents", 0)),
        "spend_previous": _yuan(row.get("spend_previous_cents", 0)),
        **classes, **(_value_columns(basis, found.metrics, row) if buyer else NO_VALUE),
    }


def reclassify(customer_ids: Iterable[int], chunk: int = 500) -> int:
    """Classify some customers again against the latest run (see the module docstring); returns how many.

    Nothing happens before the first run (or after a run made before cut-offs were stored). Customers
    that no longer exist are skipped. Per chunk of customers: one read (:func:`_read`), then only the
    columns that changed are written.
    """
    ids = sorted(set(customer_ids))
    if not ids:
        return 0
    as_of = today()
    basis = next(iter(_cache.values()), None) if _cache else latest_basis(as_of)
    done = 0
    for start in range(0, len(ids), chunk):
        part = ids[start:start + chunk]
        if basis is None:   # no run known yet, or the cached one had no cut-offs: ask again
            basis = latest_basis(as_of)
            if basis is None:
                return done
        found = _read(part, Day.cached(as_of, basis))
        if not found:
            continue
        key = next(iter(found.values())).run_key
        if _cache.get(key, False) is not basis:   # another run has finished: read again against it
            basis = _basis(key)
            if basis is None:
                return done
            found = _read(part, Day.cached(as_of, basis))
        day = Day.cached(as_of, basis)
        writes = [(customer_id, segment_values(customer_id, state, basis, day), state)
                  for customer_id, state in found.items()]
        with transaction.atomic(savepoint=False) if len(writes) > 1 else nullcontext():
            for customer_id, values, state in writes:
                done += _store(customer_id, values, basis, state)
    return done


def _adapt(value: Any) -> Any:
    """A value as the database driver takes it (dates as the backend writes them; the rest as they are)."""
    return connection.ops.adapt_datefield_value(value) if type(value) is datetime.date else value


def _as_read(field: Any) -> Any:
    """How a value of the field read through the cursor takes the form the field holds (SQLite hands decimals
    as floats): a function, or None when it needs nothing."""
    return {"DecimalField": lambda value: None if value is None else _money(value),
            "DateField": lambda value: datetime.date.fromisoformat(value) if isinstance(value, str) else value,
            }.get(field.get_internal_type())


def _compared(fields: list) -> list[tuple]:
    """(field, name, how it is read) of each of `fields`, in their order: what :func:`_changes` goes through."""
    return [(field, field.name, _as_read(field)) for field in fields]


_SEGMENT_COMPARED, _SNAPSHOT_COMPARED = _compared(_SEGMENT_FIELDS), _compared(_SNAPSHOT_FIELDS)


def _differs(stored: Any, value: Any) -> bool:
    """Whether a value read through the cursor (in the field's form) differs from the one computed. Floats (the
    purchase rhythm) count as equal to 12 significant digits: the engine and this module divide in another order,
    and a last-bit difference is no change worth a write."""
    if isinstance(stored, float) and isinstance(value, float):
        return not math.isclose(stored, value, rel_tol=1e-12)
    return stored != value


def _changes(model: type, compared: list[tuple], values: dict[str, Any], old: tuple,
             where: dict[str, Any]) -> tuple | None:
    """SQLite: the UPDATE (SQL, parameters) of the columns of a row read as `old` that differ from `values`; None
    when nothing differs but the columns of _WITH_A_CHANGE, which are written with any other change. Only the columns
    that differ: SQLite rewrites the index entries of every column named in the SET clause, changed or not."""
    differing = [field for (field, name, read), stored in zip(compared, old, strict=True)
                 if _differs(stored if read is None else read(stored), values[name])]
    if all(f.name in _WITH_A_CHANGE for f in differing):
        return None
    return (f"UPDATE {model._meta.db_table} SET {', '.join(f'{f.column} = %s' for f in differing)}"
            f" WHERE {' AND '.join(f'{column} = %s' for column in where)}",
            [*(_adapt(values[f.name]) for f in differing), *where.values()])


def _insert(model: type, fields: list, values: dict[str, Any], keys: dict[str, Any]) -> tuple[str, list]:
    """The INSERT (SQL, parameters) of a row: its key columns and `fields` from `values`."""
    columns = [*keys, *(f.column for f in fields)]
    return (f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) VALUES ({_marks(columns)})",
            [*keys.values(), *(_adapt(values[f.name]) for f in fields)])


def _differs_sql(fields: list) -> str:
    """SQL that is true when the stored row (`t`) differs from the one proposed (`EXCLUDED`) in one of `fields`
    but those of _WITH_A_CHANGE: as :func:`_differs` compares, floats to 12 significant digits."""
    compared = [f for f in fields if f.name not in _WITH_A_CHANGE]
    exact = [f.column for f in compared if f.get_internal_type() != "FloatField"]
    terms = [f"({', '.join('t.' + c for c in exact)}) IS DISTINCT FROM ({', '.join('EXCLUDED.' + c for c in exact)})"]
    terms += [f"NOT (t.{c} IS NOT DISTINCT FROM EXCLUDED.{c} OR COALESCE(abs(t.{c} - EXCLUDED.{c})"
              f" <= 1e-12 * greatest(abs(t.{c}), abs(EXCLUDED.{c})), false))"
              for c in (f.column for f in compared if f.get_internal_type() == "FloatField")]
    return " OR ".join(terms)


@functools.cache
def _upsert_sql(model: type, keys: tuple[str, ...]) -> str:
    """PostgreSQL: the INSERT of a class row or snapshot line (its key columns, then its fields) that, when the row
    is there, updates the whole row, only if it differs (:func:`_differs_sql`): an unchanged row is not written. One
    statement of one shape per table, prepared once per connection; whatever changed, every index entry is written
    anyway, as the row's indexed sort columns change with nearly every order (no HOT update)."""
    fields = _SEGMENT_FIELDS if model is CustomerSegment else _SNAPSHOT_FIELDS
    columns = [*keys, *(f.column for f in fields)]
    every = ", ".join(f"{f.column} = EXCLUDED.{f.column}" for f in fields)
    return (f"INSERT INTO {model._meta.db_table} AS t ({', '.join(columns)}) VALUES ({_marks(columns)})"
            f" ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {every} WHERE {_differs_sql(fields)}")


def _snapshot_line(values: dict[str, Any]) -> dict[str, Any]:
    """The snapshot line (codes) of a customer's class values."""
    return {column: class_code(column, values[column]) for column in CLASS_NAMES} | {
        "r_score": values["r_score"], "f_score": values["f_score"], "m_score": values["m_score"],
        "overdue": values["overdue"]}


def _store(customer_id: int, values: dict[str, Any], basis: RunBasis, found: Found) -> int:
    """Write what changed of one customer's class row (and of its snapshot line when the run is of the same day).

    PostgreSQL: one statement, the upserts of the row and the line (lib.db.recomputable_write); outside a transaction
    committed without waiting for the disk: the order it follows was committed durably before, a crash can lose only
    the last moments of class updates, which the customer page then shows as older than the orders and the next run
    recomputes (a disk flush is about 8 ms on this machine). SQLite (its WAL mode commits so already): the stored row
    read by :func:`_read`, only the columns that changed, one statement each."""
    with_line = basis.as_of == values["changed_on"]   # that day has a snapshot: keep this customer's line current
    if not _compared_in_python():
        writes = [_upsert_sql(CustomerSegment, ("customer_id",))]   # psycopg takes dates as they are
        params = [customer_id, *map(values.__getitem__, _SEGMENT_NAMES)]
        if with_line:
            line = _snapshot_line(values)
            writes.append(_upsert_sql(SegmentSnapshot, ("as_of", "customer_id")))
            params += [basis.as_of, customer_id, *map(line.__getitem__, _SNAPSHOT_NAMES)]
        run_prepared(recomputable_write(writes), params)
        return 1
    key = {"customer_id": customer_id}
    writes = [_insert(CustomerSegment, _SEGMENT_FIELDS, values, key) if found.segment is None
              else _changes(CustomerSegment, _SEGMENT_COMPARED, values, found.segment, key)]
    if with_line:
        line = _snapshot_line(values)
        key = {"as_of": _adapt(basis.as_of), "customer_id": customer_id}
        writes.append(_insert(SegmentSnapshot, _SNAPSHOT_FIELDS, line, key) if found.snapshot is None
                      else _changes(SegmentSnapshot, _SNAPSHOT_COMPARED, line, found.snapshot, key))
    writes = [write for write in writes if write is not None]
    # One statement needs no transaction around it (the caller's, if any, holds several customers).
    with transaction.atomic(savepoint=False) if len(writes) > 1 else nullcontext():
        for sql, params in writes:
            run_prepared(sql, params)
    return 1


def describes(segment: CustomerSegment, metrics: CustomerMetrics | None) -> bool:
    """Whether a class row describes the customer's orders as they are now (its maintained metrics): the
    same last purchase day and, unless F and M count a window of months, the same orders and spend."""
    if metrics is None or not metrics.frequency:
        return segment.last_order_day is None
    if segment.last_order_day != timezone.localdate(metrics.last_order_at):
        return False
    run = segment.run
    if run is not None and run.threshold_values.window_months:
        return True
    return segment.frequency == metrics.frequency and segment.monetary == metrics.monetary


# --- at the commit of a write ----------------------------------------------------------------------------

def follow(customer_id: int | None) -> None:
    """Classify the customer again once the current write is done: inside a unit of work just before it commits
    (``lib.commits``: one transaction for the order and its classes), else at the commit of the write (at once
    outside a transaction); once per customer, however many orders and lines the write touches.

    A failure is logged and neither undoes nor fails the write: the customer's class row loses its fingerprint, so
    the next run classifies the customer again, a same-day re-run included (``pipeline.unchanged_run``).
    """
    if customer_id is None:
        return

    def classify_again() -> None:
        reclassify([customer_id])

    def owe_a_run() -> None:
        CustomerSegment.objects.filter(customer_id=customer_id).update(fingerprint=None)

    before_commit(("classes", customer_id), classify_again, owe_a_run)
