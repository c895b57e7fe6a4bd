"""模型检验: the purchase models checked on the shop's own history (Fader & Hardie's calibration/holdout test).

The history is split at a calibration date. Each purchase model is fitted on the customers who had
bought by that date, with what they did up to it, and predicts their repeat purchases (purchase
days) in the holdout that follows; the prediction is set against what they actually did:

- per calibration-frequency group (repeat purchases in the calibration period: 0, 1, …, 6, 7+):
  customers, actual and predicted repeat purchases in the holdout;
- in total, with the error in percent;
- week by week over the whole history (weeks ending on the end day), cumulative repeat purchases of
  the same customers: actual against each model's expectation for customers of their age (Fader,
  Hardie & Lee 2005, figure 2: the unconditional E[X(t)] from each customer's first purchase, summed).

The model to forecast with is one of those that give a one-time buyer a churn probability
(:data:`CHOICE_MODELS`: MBG/NBD and Pareto/NBD): MBG/NBD, unless Pareto/NBD's total error in the holdout is
smaller by more than :data:`CHOICE_MARGIN` percentage points (see :func:`choose`); BG/NBD is shown beside them
for comparison — it holds that a customer who bought once is still
active for sure. Without a usable check (too short a history, too few customers) the choice is
:data:`DEFAULT_MODEL`.

Pure: Narwhals and NumPy, no Django.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import narwhals.stable.v2 as nw
import numpy as np

from kehu.segments.engine import clv
from kehu.segments.engine.clv_data import TimeUnit, unit_days

MODELS = ("MBG/NBD", "Pareto/NBD", "BG/NBD")
CHOICE_MODELS = ("MBG/NBD", "Pareto/NBD")
DEFAULT_MODEL = "MBG/NBD"
# How much smaller (percentage points of the holdout's purchases) another candidate's total error must be for it to
# be chosen over the default (the models page says so)
CHOICE_MARGIN = 0.5
HOLDOUT_SHARE = 0.25
MIN_HOLDOUT_DAYS = 56  # 8 weeks
MIN_CALIBRATION_DAYS = 56
TOP_GROUP = 7  # calibration frequencies 7 and more form one group, "7+"
FIT_SAMPLE = 50_000  # customers the models are fitted on at most (a seeded random sample of the calibration ones)
FIT_SECONDS = 20.0  # a model whose search takes longer is left out of the check (Pareto/NBD can crawl)


@dataclass(frozen=True)
class ModelResult:
    """One model's holdout forecast, or why it could not be fitted."""

    model: str
    fitted: bool
    predicted_total: float | None = None
    error_percent: float | None = None
    predicted_by_group: list[float] = field(default_factory=list)
    predicted_cumulative: list[float] = field(default_factory=list)
    params: dict[str, float] = field(default_factory=dict)
    log_likelihood: float | None = None
    reason: str = ""
    reason_en: str = ""


@dataclass(frozen=True)
class ModelCheck:
    """The check of every model on one split; ``chosen`` is the model to forecast with."""

    checked: bool
    chosen: str
    time_unit: str = "days"
    start: str = ""
    calibration_end: str = ""
    end: str = ""
    holdout_days: int = 0
    customers: int = 0
    fitted_on: int = 0
    actual_total: int = 0
    groups: list[str] = field(default_factory=list)
    group_customers: list[int] = field(default_factory=list)
    actual_by_group: list[int] = field(default_factory=list)
    weeks: list[str] = field(default_factory=list)
    actual_cumulative: list[int] = field(default_factory=list)
    models: list[ModelResult] = field(default_factory=list)
    reason: str = ""
    reason_en: str = ""

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (dates as ISO text), as ``SegmentRun.value_model["model_check"]`` keeps it."""
        return asdict(self)

    def result(self, model: str) -> ModelResult | None:
        return next((m for m in self.models if m.model == model), None)


def default_calibration_end(start: datetime.date, end: datetime.date) -> datetime.date | None:
    """The last 25 % of the span from ``start`` to ``end`` (at least 8 weeks) is the holdout; None when
    the calibration period would be shorter than 8 weeks."""
    span = (end - start).days
    holdout = max(math.ceil(span * HOLDOUT_SHARE), MIN_HOLDOUT_DAYS)
    if span - holdout < MIN_CALIBRATION_DAYS:
        return None
    return end - datetime.timedelta(days=holdout)


def purchase_days(transactions: Any, *, customer_col: str = "customer_id", date_col: str = "date") -> Any:
    """Distinct (customer, day) pairs of a transactions frame: the purchases the models count.

    An eager frame is sorted and each pair kept where it differs from the one before: Polars' hash-based
    ``unique()`` of ten million pairs needs about 1.7 GB more memory at its peak, this about 0.2 GB."""
    frame = nw.from_native(transactions)
    dtype = frame.collect_schema()[date_col] if hasattr(frame, "collect_schema") else frame.schema[date_col]
    day = nw.col(date_col).dt.date() if isinstance(dtype, nw.Datetime) else nw.col(date_col).cast(nw.Date)
    days = frame.drop_nulls(subset=[customer_col, date_col]).select(nw.col(customer_col).alias("customer"),
                                                                     day.alias("day"))
    if isinstance(days, nw.LazyFrame):
        return days.unique().collect().to_native()
    days = days.sort("customer", "day")
    new = (nw.col("customer") != nw.col("customer").shift(1)) | (nw.col("day") != nw.col("day").shift(1))
    return days.filter(new.fill_null(True)).to_native()   # the first row has no row before it


def check_models(
    transactions: Any,
    *,
    end: datetime.date,
    calibration_end: datetime.date | None = None,
    time_unit: TimeUnit = "days",
    customer_col: str = "customer_id",
    date_col: str = "date",
    models: Sequence[str] = MODELS,
    min_customers: int = clv.MIN_CUSTOMERS,
    min_repeat_buyers: int = clv.MIN_REPEAT_BUYERS,
    start_params: dict[str, Sequence[float]] | None = None,
    max_seconds: float | None = FIT_SECONDS,
    fit_sample: int | None = FIT_SAMPLE,
) -> ModelCheck:
    """Fit each model on the calibration period and check its forecast of the holdout, up to ``end``.

    ``transactions`` has a customer column and a date or datetime column (cut to its day); purchases
    after ``end`` are ignored. ``calibration_end`` defaults to :func:`default_calibration_end`.
    ``start_params`` may give each model's starting parameters (such as the last check's); a fit that
    takes more than ``max_seconds`` is given up (the model is shown as not fitted, with the reason).
    With more than ``fit_sample`` calibration customers the models are fitted on a seeded random sample
    of that many (the parameters barely move, the time stays bounded); predictions and actual figures
    are always over every customer.
    """
    days = nw.from_native(purchase_days(transactions, customer_col=customer_col, date_col=date_col),
                          eager_only=True)
    day = days["day"].to_numpy().astype("datetime64[D]").astype(np.int64)
    _, customer = np.unique(days["customer"].to_numpy(), return_inverse=True)
    end_day = _ordinal(end)
    keep = day <= end_day
    day, customer = day[keep], customer[keep]
    if day.size == 0:
        return _unchecked("没有消费记录，无法检验模型", "There are no purchases to check the models on")
    first_all = int(day.min())
    start = _date(first_all)
    if calibration_end is None:
        calibration_end = default_calibration_end(start, end)
        if calibration_end is None:
            weeks = (MIN_HOLDOUT_DAYS + MIN_CALIBRATION_DAYS) // 7
            return _unchecked(
                f"消费记录跨度不足 {weeks} 周（现有 {(end - start).days} 天），无法留出检验期",
                f"The purchase history spans less than {weeks} weeks ({(end - start).days} days); "
                "there is no room for a holdout period",
            )
    cal_day = _ordinal(calibration_end)
    per = unit_days(time_unit)

    # per customer: first day, calibration frequency / recency / T, holdout purchases
    n_all = int(customer.max()) + 1
    first = np.full(n_all, np.iinfo(np.int64).max)
    np.minimum.at(first, customer, day)
    cohort = first <= cal_day  # customers who had bought by the calibration date
    in_cal = day <= cal_day
    cal_count = np.bincount(customer[in_cal], minlength=n_all)
    last_cal = np.full(n_all, np.iinfo(np.int64).min)
    np.maximum.at(last_cal, customer[in_cal], day[in_cal])
    holdout = np.bincount(customer[~in_cal], minlength=n_all)
    x = (cal_count - 1)[cohort].astype(float)
    t_x = ((last_cal - first)[cohort] / per).astype(float)
    T = ((cal_day - first)[cohort] / per).astype(float)
    actual = holdout[cohort]
    holdout_days = end_day - cal_day
    group = np.minimum(x, TOP_GROUP).astype(int)
    group_customers = np.bincount(group, minlength=TOP_GROUP + 1)
    actual_by_group = np.bincount(group, weights=actual, minlength=TOP_GROUP + 1)

    # week by week, counted back from the end (so a calibration date whole weeks before it is a point):
    # cumulative repeat purchases of the cohort
    points = list(range(end_day, first_all, -7))[::-1]
    cohort_days = cohort[customer]
    repeat_days = np.sort(day[cohort_days & (day > first[customer])])
    actual_cumulative = np.searchsorted(repeat_days, points, side="right")
    first_days, first_counts = np.unique(first[cohort], return_counts=True)
    ages = np.arange(end_day - first_all + 1, dtype=float) / per  # every possible age in days, in the unit

    fit_rows = np.arange(x.size)
    if fit_sample is not None and x.size > fit_sample:
        fit_rows = np.sort(np.random.default_rng(0).choice(x.size, fit_sample, replace=False))
    results = []
    start_params = start_params or {}
    for name in models:
        fit = clv.PURCHASE_MODELS[name](x[fit_rows], t_x[fit_rows], T[fit_rows], time_unit=time_unit,
                                        min_customers=min_customers,
                                        min_repeat_buyers=min_repeat_buyers, start=start_params.get(name),
                                        max_seconds=max_seconds)
        if not fit.ok:
            results.append(ModelResult(name, False, reason=fit.reason, reason_en=fit.reason_en))
            continue
        predicted = _conditional(fit, holdout_days / per, x, t_x, T)
        by_age = fit.expected_purchases_new(ages)
        cumulative = [float(first_counts[first_days <= p] @ by_age[p - first_days[first_days <= p]]) for p in points]
        total = float(predicted.sum())
        if not (np.all(np.isfinite(predicted)) and np.all(np.isfinite(cumulative))):
            results.append(ModelResult(name, False, reason=f"{name} 模型的预测出现无效数值",
                                       reason_en=f"The {name} model gives non-finite forecasts"))
            continue
        results.append(ModelResult(
            name, True, predicted_total=total,
            error_percent=(total - actual.sum()) / actual.sum() * 100 if actual.sum() else None,
            predicted_by_group=[float(v) for v in np.bincount(group, weights=predicted, minlength=TOP_GROUP + 1)],
            predicted_cumulative=cumulative, params={k: float(v) for k, v in fit.params.items()},
            log_likelihood=float(fit.log_likelihood),
        ))
    return ModelCheck(
        checked=True, chosen=choose(results), time_unit=time_unit, start=start.isoformat(),
        calibration_end=calibration_end.isoformat(), end=end.isoformat(), holdout_days=int(holdout_days),
        customers=int(cohort.sum()), fitted_on=int(fit_rows.size), actual_total=int(actual.sum()),
        groups=[str(g) for g in range(TOP_GROUP)] + [f"{TOP_GROUP}+"],
        group_customers=[int(v) for v in group_customers], actual_by_group=[int(v) for v in actual_by_group],
        weeks=[_date(p).isoformat() for p in points], actual_cumulative=[int(v) for v in actual_cumulative],
        models=results,
    )


def choose(results: Sequence[ModelResult]) -> str:
    """The default model, unless another candidate (:data:`CHOICE_MODELS`) forecast the holdout's total better by more
    than CHOICE_MARGIN points (or the default could not be checked): then the candidate with the smallest absolute
    error. The default's fit has a closed-form gradient, Pareto/NBD's a numerical one: 3 s against 52 s on 900,000
    buyers, for forecasts that two models this close barely tell apart."""
    errors = {r.model: abs(r.error_percent) for r in results
              if r.fitted and r.model in CHOICE_MODELS and r.error_percent is not None}
    if not errors:
        return DEFAULT_MODEL
    best = min(errors, key=lambda model: (errors[model], CHOICE_MODELS.index(model)))
    if DEFAULT_MODEL in errors and errors[best] >= errors[DEFAULT_MODEL] - CHOICE_MARGIN:
        return DEFAULT_MODEL
    return best


def _conditional(fit: clv.PurchaseFit, t: float, x: np.ndarray, t_x: np.ndarray, T: np.ndarray) -> np.ndarray:
    """E[X(T, T+t) | x, t_x, T] per customer, computed once per distinct history."""
    (ux, ut_x, uT), _, inverse = clv._unique_rows(x, t_x, T)
    return fit.expected_purchases(t, ux, ut_x, uT)[inverse]


def _unchecked(reason: str, reason_en: str) -> ModelCheck:
    return ModelCheck(checked=False, chosen=DEFAULT_MODEL, reason=reason, reason_en=reason_en)


def _ordinal(day: datetime.date) -> int:
    return int(np.datetime64(day, "D").astype(np.int64))


def _date(ordinal: int) -> datetime.date:
    return (np.datetime64(0, "D") + np.timedelta64(int(ordinal), "D")).astype(datetime.date)


# --- the figures as rows (for the page, the workbook and the command line alike) ---------------------------


def group_rows(check: dict[str, Any]) -> list[list[Any]]:
    """Per calibration-frequency group and a total row: [group, customers, actual, predicted per model…]
    for the models in ``check["models"]`` order (None for a model not fitted). ``check`` is
    :meth:`ModelCheck.to_dict` (as stored)."""
    models = check.get("models", [])
    rows = []
    for i, group in enumerate(check.get("groups", [])):
        predicted = [m["predicted_by_group"][i] if m["fitted"] else None for m in models]
        rows.append([group, check["group_customers"][i], check["actual_by_group"][i], *predicted])
    if rows:
        totals = [m["predicted_total"] if m["fitted"] else None for m in models]
        rows.append(["合计", check["customers"], check["actual_total"], *totals])
    return rows


def total_rows(check: dict[str, Any]) -> list[list[Any]]:
    """Per model: [model, predicted, actual, error (a fraction: −0.143 for −14.3 %), chosen, candidate, reason,
    reason in English]; ``candidate`` says whether the model may be chosen (it gives one-time buyers a churn
    probability), the reasons why a model was not fitted."""
    rows = []
    for m in check.get("models", []):
        error = None if m.get("error_percent") is None else m["error_percent"] / 100
        rows.append([m["model"], m.get("predicted_total"), check.get("actual_total"), error,
                     m["model"] == check.get("chosen"), m["model"] in CHOICE_MODELS, m.get("reason", ""),
                     m.get("reason_en", "")])
    return rows
