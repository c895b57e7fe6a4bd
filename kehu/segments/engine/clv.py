"""Churn and value forecast (流失预警与客户价值): BG/NBD, MBG/NBD, Pareto/NBD and Gamma-Gamma, fitted by maximum
likelihood.

Every model works on plain arrays of the customer-base summary (see ``clv_data.build_summary``):

- ``x``: repeat purchases (distinct purchase days minus one),
- ``t_x``: time from the first to the last purchase,
- ``T``: time from the first purchase to the end of the observation period,
- ``monetary``: mean value of the repeat purchases,

with times in a stated unit (``"days"`` or ``"weeks"``). Parameters are estimated with
``scipy.optimize.minimize`` over log-parameters; the log-likelihoods are vectorised and identical
summary rows are collapsed into weighted rows first, so a million customers fit in seconds.

A fit returns a small frozen dataclass (``BGNBDFit``, ``MBGNBDFit``, ``ParetoNBDFit``, ``GammaGammaFit``) or, when
the data cannot support a fit (too few customers or repeat buyers, invalid rows, an optimiser that
does not converge), a ``ModelNotFitted`` whose reason is given in Chinese and English. Nothing here
raises on bad data or returns NaN silently.

BG/NBD holds that a customer who bought once is alive for sure; MBG/NBD and Pareto/NBD give such a
customer a churn probability that rises with their silence.

References: Fader, Hardie & Lee (2005) "Counting your customers the easy way: an alternative to the
Pareto/NBD model"; Batislam, Denizel & Filiztekin (2007) "Empirical validation and comparison of models
for customer base analysis"; Schmittlein, Morrison & Colombo (1987) "Counting your customers: who are they and
what will they do next?"; Fader, Hardie & Lee (2005) "RFM and CLV: using iso-value curves for
customer base analysis"; Fader & Hardie (2013) "The Gamma-Gamma model of monetary value".
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

import narwhals.stable.v2 as nw
import numpy as np
from numpy.typing import ArrayLike, NDArray

from kehu.segments.engine.clv_data import TimeUnit, unit_days

# SciPy (about half a second to import) is imported inside the functions that use it: every `kehu` process
# loads the URL conf, which reaches this module, and few of them fit or apply a model.
Array = NDArray[np.float64]

MIN_CUSTOMERS = 50
MIN_REPEAT_BUYERS = 20
DAYS_PER_MONTH = 365.0 / 12.0
DEFAULT_HORIZONS_DAYS = (30, 90, 365)
DEFAULT_MONTHLY_DISCOUNT = 0.01

_LOG_BOUND = 15.0  # parameters are kept within e^±15 (3e-7 … 3.3e6) during the search
_GRADIENT_TOLERANCE = 1e-4  # on the mean log-likelihood per customer, w.r.t. log-parameters
_WARM_TOLERANCE = 1e-8  # a starting point this close to stationary is taken as the optimum
_HOMOGENEOUS_DROPOUT = 3e3  # BG/NBD a + b beyond which drop-out is treated as the same for everyone
_LARGEST = np.finfo(float).max


# ---------------------------------------------------------------------------------------------
# Results


@dataclass(frozen=True)
class ModelNotFitted:
    """Why a model could not be fitted; ``reason`` is Chinese, ``reason_en`` English."""

    model: str
    code: Literal["too_few_customers", "too_few_repeat_buyers", "invalid_input", "not_converged", "unusable"]
    reason: str
    reason_en: str
    n_customers: int = 0
    n_repeat_buyers: int = 0

    ok: ClassVar[bool] = False

    def __str__(self) -> str:
        return self.reason

    def to_rows(self) -> list[dict[str, Any]]:
        return [
            _row("model", "模型", "Model", self.model),
            _row("status", "状态", "Status", "未拟合"),
            _row("reason", "原因", "Reason", self.reason),
            _row("reason_en", "原因（英文）", "Reason (English)", self.reason_en),
            _row("n_customers", "客户数", "Customers", self.n_customers),
            _row("n_repeat_buyers", "重复购买客户数", "Repeat buyers", self.n_repeat_buyers),
        ]


@dataclass(frozen=True, kw_only=True)
class _Fit:
    log_likelihood: float
    time_unit: TimeUnit
    n_customers: int = 0
    n_repeat_buyers: int = 0

    ok: ClassVar[bool] = True
    model: ClassVar[str] = ""
    _timed: ClassVar[bool] = True  # whether the likelihood has time in it (and so depends on the unit)
    _labels: ClassVar[dict[str, tuple[str, str]]] = {}

    @property
    def params(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self._labels}

    def to_rows(self) -> list[dict[str, Any]]:
        unit = {"days": "天", "weeks": "周"}[self.time_unit]
        rows = [_row("model", "模型", "Model", self.model), _row("status", "状态", "Status", "已拟合")]
        rows += [_row(name, zh, en, getattr(self, name)) for name, (zh, en) in self._labels.items()]
        rows += [
            _row("log_likelihood", f"对数似然（以{unit}为时间单位，换用其他单位数值会变）",
                 f"Log-likelihood (with time in {self.time_unit}; another unit gives another value)",
                 self.log_likelihood) if self._timed else
            _row("log_likelihood", "对数似然（与时间单位无关）", "Log-likelihood (no time in it)", self.log_likelihood),
            _row("time_unit", "时间单位", "Time unit", unit),
            _row("n_customers", "客户数", "Customers", self.n_customers),
            _row("n_repeat_buyers", "重复购买客户数", "Repeat buyers", self.n_repeat_buyers),
        ]
        return rows


@dataclass(frozen=True, kw_only=True)
class _PurchaseFit(_Fit):
    """What BG/NBD and Pareto/NBD fits share: P(alive) and expected purchases."""

    def p_alive(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """Probability that a customer with history (x, t_x, T) is still active at T."""
        from scipy import special
        x, t_x, T = _arrays(x, t_x, T)
        return special.expit(-self._log_odds_inactive(x, t_x, T))

    def expected_purchases(self, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        """E[X(T, T + t) | x, t_x, T]: expected purchases in the next ``t`` time units."""
        x, t_x, T = _arrays(x, t_x, T)
        return self.p_alive(x, t_x, T) * self.expected_purchases_if_alive(t, x, t_x, T)

    def expected_purchases_new(self, t: float | ArrayLike) -> Array:
        """E[X(t)]: expected repeat purchases of a new customer in their first ``t`` time units (for MBG/NBD
        including the chance of dropping out right after the first purchase)."""
        t = np.asarray(t, dtype=float)
        zero = np.zeros_like(t)
        return self.expected_purchases(t, zero, zero, zero)

    def expected_purchases_if_alive(self, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        raise NotImplementedError

    def _log_odds_inactive(self, x: Array, t_x: Array, T: Array) -> Array:
        raise NotImplementedError


@dataclass(frozen=True, kw_only=True)
class _BetaGeometricFit(_PurchaseFit):
    """What BG/NBD and MBG/NBD share: purchase rate λ ~ Gamma(r, α), drop-out probability p ~ Beta(a, b).

    The two differ only in when a customer may drop out: BG/NBD after each *repeat* purchase, MBG/NBD
    after every purchase, the first one included (``_first_dropout`` = 1). Every formula below is the
    BG/NBD one with x + ``_first_dropout`` drop-out chances in place of x.
    """

    r: float
    alpha: float
    a: float
    b: float

    _first_dropout: ClassVar[float] = 0.0
    _labels: ClassVar[dict[str, tuple[str, str]]] = {
        "r": ("购买率形状参数 r", "Purchase-rate shape r"),
        "alpha": ("购买率尺度参数 α", "Purchase-rate scale α"),
        "a": ("流失概率参数 a", "Drop-out parameter a"),
        "b": ("流失概率参数 b", "Drop-out parameter b"),
    }

    def _log_odds_inactive(self, x: Array, t_x: Array, T: Array) -> Array:
        return _bgnbd_log_odds_inactive(self.r, self.alpha, self.a, self.b, x, t_x, T, self._first_dropout)

    def expected_purchases_if_alive(self, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        from scipy import special
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        if abs(a - 1.0) < 1e-7:  # the closed form divides by a − 1; its limit at a = 1 is continuous
            a = 1.0 + math.copysign(1e-7, a - 1.0)
        t = np.asarray(t, dtype=float)
        chances = x + self._first_dropout  # purchases after which the customer could have dropped out
        if a + b > _HOMOGENEOUS_DROPOUT:
            # a, b → ∞ at a fixed ratio: drop-out is (nearly) the same for everyone and the hypergeometric
            # form is no longer computable. Its limit, with λ | alive ~ Gamma(r+x, α+T) and p | alive at
            # its mean a/(a+b+chances), is E[(1 − e^(−λpt)) / p] = (1 − ((α+T)/(α+T+pt))^(r+x)) / p;
            # within 0.05 % of the exact value at a + b = 3000 and closer beyond.
            p = a / (a + b + chances)
            return -np.expm1(-(r + x) * np.log1p(p * t / (alpha + T))) / p
        # (a+b+k−1)/(a−1) · [1 − ((α+T)/(α+T+t))^(r+x) · 2F1(r+x, b+k; a+b+k−1; t/(α+T+t))], k = chances,
        # with the 2F1 turned by Euler's transformation into (1−z)^(a−1−r−x) 2F1(a+b+s−1−r, a−1; a+b+k−1; z),
        # s = k − x: the same value, without the huge factors that large x would give.
        z = t / (alpha + T + t)
        c = a + b + chances - 1.0
        first = a + b + self._first_dropout - 1.0 - r
        term = np.exp((a - 1.0) * np.log1p(-z)) * special.hyp2f1(first, a - 1.0, c, z)
        return c / (a - 1.0) * (1.0 - term)

    def log_likelihood_of(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> float:
        """The log-likelihood of these parameters on a summary (for checks and model comparison)."""
        x, t_x, T = _arrays(x, t_x, T)
        params = np.log([self.r, self.alpha, self.a, self.b])
        return _BGNBDLikelihood(x, t_x, T, modified=bool(self._first_dropout))(params, gradient=False)[0]


@dataclass(frozen=True, kw_only=True)
class BGNBDFit(_BetaGeometricFit):
    """BG/NBD (Fader, Hardie & Lee 2005): drop-out after each repeat purchase, so a customer who bought
    once is alive for sure (P(alive) = 1 whatever their silence)."""

    model: ClassVar[str] = "BG/NBD"


@dataclass(frozen=True, kw_only=True)
class MBGNBDFit(_BetaGeometricFit):
    """Modified BG/NBD (Batislam, Denizel & Filiztekin 2007): drop-out also possible right after the first
    purchase, so a one-time buyer's P(alive) = 1 / (1 + a/b · ((α+T)/α)^r) falls with their silence."""

    model: ClassVar[str] = "MBG/NBD"
    _first_dropout: ClassVar[float] = 1.0


@dataclass(frozen=True, kw_only=True)
class ParetoNBDFit(_PurchaseFit):
    """Pareto/NBD (Schmittlein et al. 1987): purchase rate λ ~ Gamma(r, α), drop-out rate μ ~ Gamma(s, β)."""

    r: float
    alpha: float
    s: float
    beta: float

    model: ClassVar[str] = "Pareto/NBD"
    _labels: ClassVar[dict[str, tuple[str, str]]] = {
        "r": ("购买率形状参数 r", "Purchase-rate shape r"),
        "alpha": ("购买率尺度参数 α", "Purchase-rate scale α"),
        "s": ("流失率形状参数 s", "Drop-out-rate shape s"),
        "beta": ("流失率尺度参数 β", "Drop-out-rate scale β"),
    }

    def _log_odds_inactive(self, x: Array, t_x: Array, T: Array) -> Array:
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        log_a0 = _pareto_log_a0(r, alpha, s, beta, x, t_x, T)
        return np.log(s / (r + s + x)) + (r + x) * np.log(alpha + T) + s * np.log(beta + T) + log_a0

    def expected_purchases_if_alive(self, t: float | ArrayLike, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> Array:
        x, t_x, T = _arrays(x, t_x, T)
        r, alpha, s, beta = self.r, self.alpha, self.s, self.beta
        t = np.asarray(t, dtype=float)
        # (r+x)(β+T)/(α+T) · [1 − ((β+T)/(β+T+t))^(s−1)] / (s−1), which tends to a log as s → 1
        log_growth = np.log1p(t / (beta + T))
        horizon = log_growth if abs(s - 1.0) < 1e-9 else -np.expm1(-(s - 1.0) * log_growth) / (s - 1.0)
        return (r + x) * (beta + T) / (alpha + T) * horizon

    def log_likelihood_of(self, x: ArrayLike, t_x: ArrayLike, T: ArrayLike) -> float:
        x, t_x, T = _arrays(x, t_x, T)
        params = np.log([self.r, self.alpha, self.s, self.beta])
        return _ParetoLikelihood(x, t_x, T)(params)


@dataclass(frozen=True, kw_only=True)
class GammaGammaFit(_Fit):
    """Gamma-Gamma spend model (Fader, Hardie & Lee 2005): transaction value ~ Gamma(p, ν), ν ~ Gamma(q, γ)."""

    p: float
    q: float
    gamma: float

    model: ClassVar[str] = "Gamma-Gamma"
    _timed: ClassVar[bool] = False
    _labels: ClassVar[dict[str, tuple[str, str]]] = {
        "p": ("消费金额形状参数 p", "Spend shape p"),
        "q": ("消费金额参数 q", "Spend parameter q"),
        "gamma": ("消费金额参数 γ", "Spend parameter γ"),
    }

    @property
    def mean_spend(self) -> float:
        """The population mean transaction value, p·γ / (q − 1)."""
        return self.p * self.gamma / (self.q - 1.0)

    def expected_spend(self, x: ArrayLike, monetary: ArrayLike) -> Array:
        """E[Z | x, m]: a customer's expected transaction value, shrunk from their mean towards the population's.

        For x = 0 this is the population mean; negative means count as 0.
        """
        x = np.asarray(x, dtype=float)
        m = np.asarray(monetary, dtype=float)
        m = np.where(m > 0.0, np.minimum(m, _LARGEST), 0.0)   # NaN and negatives count as 0, +∞ as the largest float
        px = self.p * x
        return (self.p * self.gamma + px * m) / (px + self.q - 1.0)

    def log_likelihood_of(self, x: ArrayLike, monetary: ArrayLike) -> float:
        x, m = np.asarray(x, dtype=float), np.asarray(monetary, dtype=float)
        params = np.log([self.p, self.q, self.gamma])
        return _GammaGammaLikelihood(x, m)(params, gradient=False)[0]


PurchaseFit = BGNBDFit | MBGNBDFit | ParetoNBDFit
SpendFit = GammaGammaFit


def fit_from(summary: dict | None, time_unit: str) -> PurchaseFit | SpendFit | None:
    """The fit a stored summary describes (``{"model", "fitted", "params", "log_likelihood", …}``, as
    ``SegmentRun.value_model`` keeps it), or None when it was not fitted or names no model offered here."""
    if not summary or not summary.get("fitted"):
        return None
    by_name = {cls.model: cls for cls in (BGNBDFit, MBGNBDFit, ParetoNBDFit, GammaGammaFit)}
    cls = by_name.get(summary.get("model"))
    if cls is None:
        return None
    return cls(**summary["params"], log_likelihood=summary.get("log_likelihood", 0.0), time_unit=time_unit,
               n_customers=summary.get("n_customers", 0), n_repeat_buyers=summary.get("n_repeat_buyers", 0))


# ---------------------------------------------------------------------------------------------
# Fitting


def fit_bgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    time_unit: TimeUnit,
    min_customers: int = MIN_CUSTOMERS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    start: Sequence[float] | None = None,
    max_seconds: float | None = None,
) -> BGNBDFit | ModelNotFitted:
    """Fit the BG/NBD model by maximum likelihood; see the module docstring for the inputs."""
    return _fit_beta_geometric(BGNBDFit, x, t_x, T, time_unit, min_customers, min_repeat_buyers, start, max_seconds)


def fit_mbgnbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    time_unit: TimeUnit,
    min_customers: int = MIN_CUSTOMERS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    start: Sequence[float] | None = None,
    max_seconds: float | None = None,
) -> MBGNBDFit | ModelNotFitted:
    """Fit the modified BG/NBD (MBG/NBD) by maximum likelihood; the inputs are those of :func:`fit_bgnbd`."""
    return _fit_beta_geometric(MBGNBDFit, x, t_x, T, time_unit, min_customers, min_repeat_buyers, start, max_seconds)


def _fit_beta_geometric(
    kind: type[BGNBDFit] | type[MBGNBDFit], x: ArrayLike, t_x: ArrayLike, T: ArrayLike, time_unit: TimeUnit,
    min_customers: int, min_repeat_buyers: int, start: Sequence[float] | None, max_seconds: float | None,
) -> Any:
    checked = _check_purchase_data(kind.model, x, t_x, T, time_unit, min_customers, min_repeat_buyers)
    if isinstance(checked, ModelNotFitted):
        return checked
    x, t_x, T = checked
    likelihood = _BGNBDLikelihood(x, t_x, T, modified=bool(kind._first_dropout))
    n = float(x.size)

    def objective(log_params: Array) -> tuple[float, Array]:
        ll, grad = likelihood(log_params)
        return -ll / n, -grad / n

    r0, alpha0 = _rate_start(x, T)
    outcome = _maximise(kind.model, objective, _start(start, [r0, alpha0, 1.0, 3.0]), x, jac=True,
                        max_seconds=max_seconds)
    if isinstance(outcome, ModelNotFitted):
        return outcome
    (r, alpha, a, b), mean_ll = outcome
    return kind(
        r=r, alpha=alpha, a=a, b=b, log_likelihood=mean_ll * n, time_unit=time_unit,
        n_customers=x.size, n_repeat_buyers=int((x > 0).sum()),
    )


def fit_pareto_nbd(
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    *,
    time_unit: TimeUnit,
    min_customers: int = MIN_CUSTOMERS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    start: Sequence[float] | None = None,
    max_seconds: float | None = None,
) -> ParetoNBDFit | ModelNotFitted:
    """Fit the Pareto/NBD model by maximum likelihood (numerical gradient; slower than BG/NBD).

    Where drop-out is nearly the same for everyone the search drifts towards s, β → ∞, where each step
    is slow; ``max_seconds`` bounds it (the model is then not fitted)."""
    checked = _check_purchase_data("Pareto/NBD", x, t_x, T, time_unit, min_customers, min_repeat_buyers)
    if isinstance(checked, ModelNotFitted):
        return checked
    x, t_x, T = checked
    likelihood = _ParetoLikelihood(x, t_x, T)
    n = float(x.size)

    def objective(log_params: Array) -> float:
        return -likelihood(log_params) / n

    r0, alpha0 = _rate_start(x, T)
    outcome = _maximise("Pareto/NBD", objective, _start(start, [r0, alpha0, 1.0, float(T.mean()) + 1.0]), x,
                        jac=False, max_seconds=max_seconds)
    if isinstance(outcome, ModelNotFitted):
        return outcome
    (r, alpha, s, beta), mean_ll = outcome
    return ParetoNBDFit(
        r=r, alpha=alpha, s=s, beta=beta, log_likelihood=mean_ll * n, time_unit=time_unit,
        n_customers=x.size, n_repeat_buyers=int((x > 0).sum()),
    )


def fit_gamma_gamma(
    x: ArrayLike,
    monetary: ArrayLike,
    *,
    time_unit: TimeUnit = "days",
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    start: Sequence[float] | None = None,
) -> GammaGammaFit | ModelNotFitted:
    """Fit the Gamma-Gamma spend model on the repeat buyers (x > 0 and a positive mean repeat value).

    Customers without a repeat purchase carry no information about spend and are left out, as are
    repeat buyers whose mean repeat value is not positive (free items, refunds). ``time_unit`` is
    only recorded; the spend model has no time in it.
    """
    x = np.asarray(x, dtype=float).ravel()
    m = np.asarray(monetary, dtype=float).ravel()
    if x.shape != m.shape:
        raise ValueError(f"x and monetary differ in length: {x.size} vs {m.size}")
    n_customers = x.size
    usable = np.isfinite(x) & np.isfinite(m) & (x > 0) & (m > 0)
    x, m = x[usable], m[usable]
    if x.size < max(min_repeat_buyers, 3):
        return _too_few_repeat_buyers("Gamma-Gamma", max(min_repeat_buyers, 3), n_customers, x.size)
    likelihood = _GammaGammaLikelihood(x, m)
    n = float(x.size)

    def objective(log_params: Array) -> tuple[float, Array]:
        ll, grad = likelihood(log_params)
        return -ll / n, -grad / n

    outcome = _maximise("Gamma-Gamma", objective, _start(start, [1.0, 2.0, float(m.mean())]), x, jac=True)
    if isinstance(outcome, ModelNotFitted):
        return outcome
    (p, q, gamma), mean_ll = outcome
    if q <= 1.0:
        return ModelNotFitted(
            "Gamma-Gamma", "unusable",
            f"消费金额模型的参数 q = {q:.3g} ≤ 1，平均消费额的期望不存在，无法用于预测",
            f"The spend model's q = {q:.3g} ≤ 1, so expected spend is undefined and cannot be forecast",
            n_customers, x.size,
        )
    return GammaGammaFit(
        p=p, q=q, gamma=gamma, log_likelihood=mean_ll * n, time_unit=time_unit,
        n_customers=n_customers, n_repeat_buyers=x.size,
    )


PURCHASE_MODELS: dict[str, Callable[..., Any]] = {
    "BG/NBD": fit_bgnbd, "MBG/NBD": fit_mbgnbd, "Pareto/NBD": fit_pareto_nbd,
}
"""The purchase models by name: the fitting function of each."""


def purchase_fit(model: str, params: dict[str, float], time_unit: TimeUnit, **extra: Any) -> PurchaseFit:
    """A purchase-model fit from stored parameters (such as ``SegmentRun.value_model["purchases"]``):
    ``model`` is its name (``"BG/NBD"`` when a stored fit predates the name), ``params`` its parameters."""
    kind = {"BG/NBD": BGNBDFit, "MBG/NBD": MBGNBDFit, "Pareto/NBD": ParetoNBDFit}[model]
    return kind(**params, log_likelihood=float(extra.pop("log_likelihood", 0.0)), time_unit=time_unit, **extra)


# ---------------------------------------------------------------------------------------------
# Value


def customer_value(
    purchases: PurchaseFit,
    spend: SpendFit,
    x: ArrayLike,
    t_x: ArrayLike,
    T: ArrayLike,
    monetary: ArrayLike,
    *,
    months: int = 12,
    monthly_discount: float = DEFAULT_MONTHLY_DISCOUNT,
    if_alive: bool = False,
) -> Array:
    """Discounted value over the next ``months`` months (CLV).

    Σ_{k=1..months} (E[X(k months)] − E[X(k−1 months)]) × E[spend] / (1 + monthly_discount)^k, with a
    month of 365/12 days. With ``if_alive=True``, the value the customer brings if still active
    (the same sum with purchases conditional on being alive).
    """
    x, t_x, T = _arrays(x, t_x, T)
    month = DAYS_PER_MONTH / unit_days(purchases.time_unit)
    expected = purchases.expected_purchases_if_alive if if_alive else purchases.expected_purchases
    cumulative = [np.zeros_like(x)] + [expected(k * month, x, t_x, T) for k in range(1, months + 1)]
    discounted = sum(
        (cumulative[k] - cumulative[k - 1]) / (1.0 + monthly_discount) ** k for k in range(1, months + 1)
    )
    return np.asarray(discounted, dtype=float) * spend.expected_spend(x, monetary)


@dataclass(frozen=True)
class Forecast:
    """Per-customer forecast and the fits behind it.

    ``table`` is a frame of the summary's kind with one row per customer: the customer column,
    ``p_alive``, ``expected_purchases_<n>d`` for each horizon, ``expected_spend``, ``clv`` (the
    discounted value over ``months`` months) and ``value_at_stake`` = (1 − P(alive)) × the value
    over the same months if the customer is still active — what is lost if they have in fact gone,
    which orders the risk list. A column whose model could not be fitted is null throughout; the
    model's ``ModelNotFitted`` says why.
    """

    purchases: PurchaseFit | ModelNotFitted
    spend: GammaGammaFit | ModelNotFitted
    table: Any
    months: int
    monthly_discount: float
    horizons_days: tuple[int, ...] = field(default=DEFAULT_HORIZONS_DAYS)

    @property
    def ok(self) -> bool:
        return self.purchases.ok and self.spend.ok

    def risk_list(self, limit: int | None = None) -> Any:
        """Customers ordered by value at stake, highest first (nulls last)."""
        frame = nw.from_native(self.table, eager_only=True)
        ordered = frame.sort("value_at_stake", descending=True, nulls_last=True)
        return (ordered.head(limit) if limit is not None else ordered).to_native()


def forecast(
    summary: Any,
    *,
    time_unit: TimeUnit,
    model: str = "BG/NBD",
    customer_col: str = "customer_id",
    horizons_days: Sequence[int] = DEFAULT_HORIZONS_DAYS,
    months: int = 12,
    monthly_discount: float = DEFAULT_MONTHLY_DISCOUNT,
    min_customers: int = MIN_CUSTOMERS,
    min_repeat_buyers: int = MIN_REPEAT_BUYERS,
    start: dict[str, Sequence[float]] | None = None,
    fitted: tuple[PurchaseFit, SpendFit] | None = None,
) -> Forecast:
    """Fit the purchase model and the spend model on a summary frame and forecast every customer.

    ``model`` names the purchase model (a key of :data:`PURCHASE_MODELS`). ``summary`` is an eager frame
    (Polars, or anything Narwhals reads) with the columns that
    ``build_summary`` gives: the customer column, ``frequency``, ``recency``, ``T`` and
    ``monetary_value``, in ``time_unit``. ``start`` may give starting parameters for the search
    (``{"purchases": [r, α, a, b], "spend": [p, q, γ]}``), such as the last fit's: the optimum is the
    same, found in fewer steps. ``fitted`` gives both fits outright (a recent fit reused): nothing is fitted.
    """
    frame = nw.from_native(summary, eager_only=True)
    x = frame["frequency"].to_numpy().astype(float)
    t_x = frame["recency"].to_numpy().astype(float)
    T = frame["T"].to_numpy().astype(float)
    m = frame["monetary_value"].to_numpy().astype(float)
    if fitted is not None:
        purchases, spend = fitted
    else:
        start = start or {}
        purchases = PURCHASE_MODELS[model](x, t_x, T, time_unit=time_unit, min_customers=min_customers,
                                           min_repeat_buyers=min_repeat_buyers, start=start.get("purchases"))
        spend = fit_gamma_gamma(x, m, time_unit=time_unit, min_repeat_buyers=min_repeat_buyers,
                                start=start.get("spend"))

    horizons = tuple(int(h) for h in horizons_days)
    names = ["p_alive", *(f"expected_purchases_{h}d" for h in horizons), "expected_spend", "clv", "value_at_stake"]
    columns: dict[str, Array] = {}
    if spend.ok:
        columns["expected_spend"] = spend.expected_spend(x, m)
        if not np.all(np.isfinite(columns["expected_spend"])):
            spend, columns = _unusable(spend, "GammaGammaFit"), {}
    if purchases.ok and len(x):
        predicted = _purchase_columns(purchases, x, t_x, T, horizons, months, monthly_discount)
        if all(np.all(np.isfinite(v)) for v in predicted.values()):
            p_alive, value_if_alive = predicted.pop("p_alive"), predicted.pop("value_if_alive")
            columns |= {"p_alive": p_alive, **predicted}
            if spend.ok:
                value_if_alive = value_if_alive * columns["expected_spend"]
                columns["clv"] = p_alive * value_if_alive
                columns["value_at_stake"] = (1.0 - p_alive) * value_if_alive
        else:
            purchases = _unusable(purchases, type(purchases).__name__)

    native = nw.get_native_namespace(frame)
    data: dict[str, Any] = {customer_col: frame[customer_col].to_numpy()}
    for name in names:
        data[name] = columns[name] if name in columns else [None] * len(frame)
    schema = {customer_col: frame.schema[customer_col]} | {name: nw.Float64() for name in names}
    table = nw.from_dict(data, schema=schema, backend=native).to_native()
    return Forecast(purchases, spend, table, months, monthly_discount, horizons)


def _purchase_columns(
    purchases: PurchaseFit, x: Array, t_x: Array, T: Array, horizons: tuple[int, ...], months: int, discount: float
) -> dict[str, Array]:
    """P(alive), expected purchases per horizon and the discounted purchases over ``months`` if alive."""
    # identical histories get identical forecasts, so compute each once; and purchases if alive
    # depend on (x, T) only, which repeat far more often than whole histories
    (ux, ut_x, uT), _, inverse = _unique_rows(x, t_x, T)
    (px, pT), _, pair = _unique_rows(x, T)
    unused = np.zeros_like(px)  # t_x does not enter the expected purchases of a customer who is alive
    p_alive = purchases.p_alive(ux, ut_x, uT)[inverse]
    columns = {"p_alive": p_alive}
    for h in horizons:
        t = h / unit_days(purchases.time_unit)
        columns[f"expected_purchases_{h}d"] = p_alive * purchases.expected_purchases_if_alive(t, px, unused, pT)[pair]
    month = DAYS_PER_MONTH / unit_days(purchases.time_unit)
    previous = np.zeros_like(px)
    discounted = np.zeros_like(px)
    for k in range(1, months + 1):
        current = purchases.expected_purchases_if_alive(k * month, px, unused, pT)
        discounted += (current - previous) / (1.0 + discount) ** k
        previous = current
    columns["value_if_alive"] = discounted[pair]
    return columns


def _unusable(fit: _Fit, name: str) -> ModelNotFitted:
    return ModelNotFitted(
        fit.model, "unusable",
        f"{fit.model} 模型的预测出现无效数值（参数 {fit.params}），无法用于预测",
        f"The {fit.model} model gives non-finite forecasts ({name} {fit.params}); it cannot be used",
        fit.n_customers, fit.n_repeat_buyers,
    )


# ---------------------------------------------------------------------------------------------
# Log-likelihoods (vectorised, weighted, over log-parameters)


def _bgnbd_log_odds_inactive(
    r: float, alpha: float, a: float, b: float, x: Array, t_x: Array, T: Array, first_dropout: float = 0.0
) -> Array:
    """log of P(inactive)/P(alive): log(a/(b+k−1)) + (r+x)·log((α+T)/(α+t_x)) with k = x + first_dropout
    drop-out chances; −∞ (alive for sure) when k = 0, a BG/NBD customer without a repeat purchase."""
    chances = x + first_dropout
    can_drop = chances > 0
    b_k = np.where(can_drop, b + chances - 1.0, 1.0)
    odds = np.log(a) - np.log(b_k) + (r + x) * (np.log(alpha + T) - np.log(alpha + t_x))
    return np.where(can_drop, odds, -np.inf)


class _BGNBDLikelihood:
    """Σ w·LL_i of the BG/NBD or MBG/NBD and its gradient w.r.t. log(r, α, a, b).

    BG/NBD (Fader, Hardie & Lee 2005, eq. 6), with k = x drop-out chances:
    LL_i = ln Γ(r+x) − ln Γ(r) + r ln α + ln B(a, b+k) − ln B(a, b) − (r+x) ln(α+T) + ln(1 + δ_{k>0} e^D)
    where D = ln(a/(b+k−1)) + (r+x) ln((α+T)/(α+t_x)) is the log-odds of having dropped out.
    MBG/NBD (Batislam et al. 2007, ``modified=True``) is the same with k = x + 1: a customer may drop
    out right after the first purchase too.

    Everything but the last term depends on x alone or on T alone, so it is summed once per distinct
    x and per distinct T; only the last term is evaluated per (distinct) customer who could have
    dropped out. BG/NBD customers without a repeat purchase reduce to r ln α − r ln(α+T), summed per
    distinct T.
    """

    def __init__(self, x: Array, t_x: Array, T: Array, weights: Array | None = None, *, modified: bool = False) -> None:
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        self.s = 1.0 if modified else 0.0
        repeat = (x > 0) | modified
        self.T0, self.w0 = _group_sum(T[~repeat], w[~repeat])
        (x1, tx1, T1), self.w1, _ = _unique_rows(x[repeat], t_x[repeat], T[repeat], weights=w[repeat])
        self.x1 = x1
        self.x_levels, self.x_index = np.unique(x1, return_inverse=True)
        self.T_levels, self.T_index = np.unique(T1, return_inverse=True)
        self.tx_levels, self.tx_index = np.unique(tx1, return_inverse=True)
        self.w_by_x = np.bincount(self.x_index, self.w1, self.x_levels.size)
        self.w_by_T = np.bincount(self.T_index, self.w1, self.T_levels.size)
        self.wx_by_T = np.bincount(self.T_index, self.w1 * x1, self.T_levels.size)
        self.n0, self.n1 = float(self.w0.sum()), float(self.w1.sum())

    def __call__(self, log_params: Array, *, gradient: bool = True) -> tuple[float, Array]:
        from scipy import special
        r, alpha, a, b = np.exp(log_params)
        gl, dg = special.gammaln, special.digamma
        ln_alpha = np.log(alpha)
        # no repeat purchase: r ln α − r ln(α+T)
        ln_T0 = np.log(alpha + self.T0)
        total = float(self.n0 * r * ln_alpha - r * (self.w0 @ ln_T0))
        # customers who could have dropped out: the terms in x alone and in T alone, once per distinct value
        xl, w_x, s = self.x_levels, self.w_by_x, self.s
        by_x = gl(r + xl) - gl(r) + gl(b + xl + s) - gl(b) + gl(a + b) - gl(a + b + xl + s)
        ln_T = np.log(alpha + self.T_levels)
        total += float(w_x @ by_x + self.n1 * r * ln_alpha - ln_T @ (r * self.w_by_T + self.wx_by_T))
        # and the drop-out term per customer
        ln_aT = ln_T[self.T_index]
        ln_atx = np.log(alpha + self.tx_levels)[self.tx_index]
        ln_bx1 = np.log(b + xl + s - 1.0)
        rx = r + self.x1
        log_odds = np.log(a) - ln_bx1[self.x_index] + rx * (ln_aT - ln_atx)
        total += float(self.w1 @ np.logaddexp(0.0, log_odds))
        if not gradient:
            return total, np.empty(0)
        wq = self.w1 * special.expit(log_odds)  # weight × P(inactive)
        psi_ab, psi_abx = dg(a + b), dg(a + b + xl + s)
        inv_T = 1.0 / (alpha + self.T_levels)
        d_r = (
            -self.w0 @ (ln_T0 - ln_alpha)
            + w_x @ (dg(r + xl) - dg(r)) + self.n1 * ln_alpha - ln_T @ self.w_by_T
            + wq @ (ln_aT - ln_atx)
        )
        d_alpha = (
            self.w0 @ (r / alpha - r / (alpha + self.T0))
            + self.n1 * r / alpha - inv_T @ (r * self.w_by_T + self.wx_by_T)
            + wq @ (rx * (inv_T[self.T_index] - 1.0 / (alpha + self.tx_levels)[self.tx_index]))
        )
        wq_by_x = np.bincount(self.x_index, wq, xl.size)
        d_a = w_x @ (psi_ab - psi_abx) + wq_by_x.sum() / a
        d_b = w_x @ (dg(b + xl + s) - dg(b) + psi_ab - psi_abx) - wq_by_x @ (1.0 / (b + xl + s - 1.0))
        return total, np.array([d_r * r, d_alpha * alpha, d_a * a, d_b * b])


def _log_hyp2f1_pareto(rsx: Array, t: Array, z: Array) -> Array:
    """log 2F1(r+s+x, t; r+s+x+1; z) for 0 ≤ z < 1, stable for large t.

    For t > 1 the series grows like (1−z)^(1−t); Euler's transformation
    2F1(a, b; c; z) = (1−z)^(c−a−b) 2F1(c−a, c−b; c; z) pulls that factor out into logs.
    """
    from scipy import special
    euler = t > 1.0
    direct = special.hyp2f1(rsx, t, rsx + 1.0, np.where(euler, 0.0, z))
    turned = special.hyp2f1(1.0, rsx + 1.0 - t, rsx + 1.0, np.where(euler, z, 0.0))
    return np.where(euler, (1.0 - t) * np.log1p(-z) + np.log(turned), np.log(direct))


def _pareto_log_a0_part(r: float, alpha: float, s: float, beta: float, x: Array, time: Array) -> Array:
    """log of 2F1(r+s+x, t; r+s+x+1; |α−β|/(M+time)) / (M+time)^(r+s+x), M = max(α, β), t = s+1 if α ≥ β else r+x."""
    rsx = r + s + x
    big, t = (alpha, np.full_like(x, s + 1.0)) if alpha >= beta else (beta, r + x)
    return _log_hyp2f1_pareto(rsx, t, abs(alpha - beta) / (big + time)) - rsx * np.log(big + time)


def _log_difference(high: Array, low: Array) -> Array:
    """log(e^high − e^low) for high ≥ low; −∞ when they are equal."""
    with np.errstate(divide="ignore"):
        return high + np.log(-np.expm1(np.minimum(low - high, 0.0)))


def _pareto_log_a0(r: float, alpha: float, s: float, beta: float, x: Array, t_x: Array, T: Array) -> Array:
    """log A_0 of the Pareto/NBD likelihood (Fader & Hardie's note on the Pareto/NBD, eq. 11).

    A_0 = 2F1(r+s+x, t; r+s+x+1; |α−β|/(M+t_x)) / (M+t_x)^(r+s+x) − (the same at T), with M = max(α, β)
    and t = s+1 when α ≥ β, t = r+x when α < β. The difference is taken in logs; A_0 = 0 when t_x = T.
    """
    at_tx, at_T = _pareto_log_a0_part(r, alpha, s, beta, np.array([x, x]), np.array([t_x, T]))  # one pass for both
    return _log_difference(at_tx, at_T)


class _ParetoLikelihood:
    """Σ w·LL_i of the Pareto/NBD (the formulation in Fader & Hardie's note, as used by lifetimes/btyd).

    LL_i = ln Γ(r+x) − ln Γ(r) + r ln α + s ln β
           + ln[ (α+T)^−(r+x) (β+T)^−s + s/(r+s+x) · A_0 ]

    The hypergeometric parts of A_0 depend on (x, t_x) and on (x, T) only, so they are evaluated once
    per distinct pair.
    """

    def __init__(self, x: Array, t_x: Array, T: Array, weights: Array | None = None) -> None:
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        (self.x, self.t_x, self.T), self.w, _ = _unique_rows(x, t_x, T, weights=w)
        (self.x_tx, self.tx), _, self.tx_index = _unique_rows(self.x, self.t_x)
        (self.x_T, self.Tp), _, self.T_index = _unique_rows(self.x, self.T)

    def __call__(self, log_params: Array) -> float:
        from scipy import special
        r, alpha, s, beta = np.exp(log_params)
        x, T = self.x, self.T
        at_tx = _pareto_log_a0_part(r, alpha, s, beta, self.x_tx, self.tx)[self.tx_index]
        at_T = _pareto_log_a0_part(r, alpha, s, beta, self.x_T, self.Tp)[self.T_index]
        log_a0 = _log_difference(at_tx, at_T)
        alive_part = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        ll = (
            special.gammaln(r + x) - special.gammaln(r) + r * np.log(alpha) + s * np.log(beta)
            + np.logaddexp(alive_part, np.log(s / (r + s + x)) + log_a0)
        )
        return float(self.w @ ll)


class _GammaGammaLikelihood:
    """Σ w·LL_i of the Gamma-Gamma model of the mean repeat value m over x transactions, and its gradient.

    LL_i = ln Γ(px+q) − ln Γ(px) − ln Γ(q) + q ln γ + (px−1) ln m + px ln x − (px+q) ln(γ+mx)

    The Γ terms are summed per distinct x and the ln m, ln x terms are fixed sums, so each
    evaluation computes only ln(γ + m·x) per customer.
    """

    def __init__(self, x: Array, m: Array, weights: Array | None = None) -> None:
        w = np.ones_like(x) if weights is None else np.asarray(weights, dtype=float)
        self.x, self.mx, self.w = x, m * x, w
        self.x_levels, x_index = np.unique(x, return_inverse=True)
        self.w_by_x = np.bincount(x_index, w, self.x_levels.size)
        self.n = float(w.sum())
        self.wx = w * x
        ln_m = np.log(m)
        self.sum_x_ln_m_x = float(self.wx @ (ln_m + np.log(x)))
        self.sum_ln_m = float(w @ ln_m)

    def __call__(self, log_params: Array, *, gradient: bool = True) -> tuple[float, Array]:
        from scipy import special
        p, q, gamma = np.exp(log_params)
        px = p * self.x_levels
        gl, dg = special.gammaln, special.digamma
        ln_gmx = np.log(gamma + self.mx)
        sum_ln_gmx = float(self.w @ ln_gmx)
        sum_x_ln_gmx = float(self.wx @ ln_gmx)
        total = (
            float(self.w_by_x @ (gl(px + q) - gl(px))) - self.n * gl(q) + self.n * q * np.log(gamma)
            + p * self.sum_x_ln_m_x - self.sum_ln_m - p * sum_x_ln_gmx - q * sum_ln_gmx
        )
        if not gradient:
            return total, np.empty(0)
        psi_pxq = dg(px + q)
        d_p = float((self.w_by_x * self.x_levels) @ (psi_pxq - dg(px))) + self.sum_x_ln_m_x - sum_x_ln_gmx
        d_q = float(self.w_by_x @ psi_pxq) - self.n * dg(q) + self.n * np.log(gamma) - sum_ln_gmx
        inv = 1.0 / (gamma + self.mx)
        d_gamma = self.n * q / gamma - p * float(self.wx @ inv) - q * float(self.w @ inv)
        return total, np.array([d_p * p, d_q * q, d_gamma * gamma])


# ---------------------------------------------------------------------------------------------
# Helpers


def _row(key: str, zh: str, en: str, value: Any) -> dict[str, Any]:
    return {"key": key, "label": zh, "label_en": en, "value": value}


def _arrays(*columns: ArrayLike) -> tuple[Array, ...]:
    arrays = tuple(np.asarray(c, dtype=float) for c in columns)
    if all(a.shape == arrays[0].shape for a in arrays):   # one customer's scalars, or a table's columns
        return arrays
    return tuple(np.asarray(a, dtype=float) for a in np.broadcast_arrays(*arrays))


def _unique_rows(
    *columns: Array, weights: Array | None = None
) -> tuple[tuple[Array, ...], Array, NDArray[np.intp]]:
    """Collapse identical rows: (unique columns, their summed weights or counts, each input row's unique row)."""
    n = columns[0].size
    if n == 0:
        return tuple(c[:0] for c in columns), np.zeros(0), np.zeros(0, dtype=np.intp)
    order = np.lexsort(columns[::-1])
    changed = np.zeros(n, dtype=bool)
    changed[0] = True
    for c in columns:
        sorted_c = c[order]
        changed[1:] |= sorted_c[1:] != sorted_c[:-1]
    starts = np.flatnonzero(changed)
    inverse = np.empty(n, dtype=np.intp)
    inverse[order] = np.cumsum(changed) - 1
    if weights is None:
        counts = np.diff(np.append(starts, n)).astype(float)
    else:
        counts = np.bincount(inverse, weights, starts.size)
    return tuple(c[order[starts]] for c in columns), counts, inverse


def _group_sum(keys: Array, weights: Array) -> tuple[Array, Array]:
    """Distinct keys and the summed weight of each."""
    levels, index = np.unique(keys, return_inverse=True)
    return levels, np.bincount(index, weights, levels.size)


def _start(given: Sequence[float] | None, default: list[float]) -> list[float]:
    """Where the search starts: `given` (e.g. the last fit's parameters, a warm start that needs far fewer
    steps on nearly the same data) when it is usable, else the default."""
    if given is None or len(given) != len(default):
        return default
    values = [float(v) for v in given]
    bound = math.exp(_LOG_BOUND - 1e-3)
    if not all(math.isfinite(v) and 1.0 / bound < v < bound for v in values):
        return default
    return values


def _rate_start(x: Array, T: Array) -> tuple[float, float]:
    """Starting values for (r, α): r = 1 and α matching the observed repeat rate."""
    rate = max(float(x.sum()) / max(float(T.sum()), 1e-9), 1e-6)
    return 1.0, min(max(1.0 / rate, 1e-3), 1e5)


def _check_purchase_data(
    model: str, x: ArrayLike, t_x: ArrayLike, T: ArrayLike, time_unit: str, min_customers: int, min_repeat: int
) -> tuple[Array, Array, Array] | ModelNotFitted:
    unit_days(time_unit)  # raises on an unknown unit: a programming error, not a data problem
    x, t_x, T = (np.asarray(c, dtype=float).ravel() for c in (x, t_x, T))
    if not (x.size == t_x.size == T.size):
        raise ValueError(f"x, t_x and T differ in length: {x.size}, {t_x.size}, {T.size}")
    n, n_repeat = x.size, int(np.sum(x > 0))
    with np.errstate(invalid="ignore"):
        valid = np.isfinite(x) & np.isfinite(t_x) & np.isfinite(T) & (x >= 0) & (t_x >= 0) & (t_x <= T + 1e-9)
        valid &= (x == 0) | (t_x > 0)
    if not valid.all():
        bad = int((~valid).sum())
        return ModelNotFitted(
            model, "invalid_input",
            f"有 {bad} 位客户的数据无效（缺失、为负，或最近一次购买晚于观察期末），无法拟合模型",
            f"{bad} customers have invalid data (missing, negative, or a last purchase after the end of the period)",
            n, n_repeat,
        )
    if n < min_customers:
        return ModelNotFitted(
            model, "too_few_customers",
            f"客户少于 {min_customers} 位（现有 {n} 位），无法可靠拟合模型",
            f"Fewer than {min_customers} customers ({n}); the model cannot be fitted reliably",
            n, n_repeat,
        )
    if n_repeat < max(min_repeat, 1):
        return _too_few_repeat_buyers(model, max(min_repeat, 1), n, n_repeat)
    return x, t_x, T


def _too_few_repeat_buyers(model: str, minimum: int, n: int, n_repeat: int) -> ModelNotFitted:
    return ModelNotFitted(
        model, "too_few_repeat_buyers",
        f"重复购买的客户少于 {minimum} 位（现有 {n_repeat} 位），无法可靠拟合模型",
        f"Fewer than {minimum} repeat buyers ({n_repeat}); the model cannot be fitted reliably",
        n, n_repeat,
    )


class _OutOfTime(Exception):
    pass


def _maximise(
    model: str, objective: Callable[[Array], Any], start: Sequence[float], x: Array, *, jac: bool,
    max_seconds: float | None = None,
) -> tuple[list[float], float] | ModelNotFitted:
    """Minimise the mean negative log-likelihood over log-parameters; return (parameters, mean LL).

    With ``max_seconds``, a search still running after that long gives up (not converged).
    """
    from scipy import optimize
    if max_seconds is not None:
        deadline, plain = time.monotonic() + max_seconds, objective

        def objective(log_params: Array) -> Any:
            if time.monotonic() > deadline:
                raise _OutOfTime
            return plain(log_params)

    x0 = np.log(np.asarray(start, dtype=float))
    bounds = [(-_LOG_BOUND, _LOG_BOUND)] * len(x0)
    options = {"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9}
    failure = "?"
    with np.errstate(all="ignore"):
        if jac and np.all(np.abs(x0) < _LOG_BOUND):
            # A warm start that is already at the optimum (the same data as last time) needs no search.
            value, gradient = objective(x0)
            if np.isfinite(value) and np.all(np.abs(gradient) < _WARM_TOLERANCE):
                return [float(v) for v in np.exp(x0)], float(-value)
        try:
            result = optimize.minimize(objective, x0, jac=jac, method="L-BFGS-B", bounds=bounds, options=options)
            if not jac:
                # polish with a central-difference gradient, which the forward differences cannot resolve
                result = optimize.minimize(
                    objective, result.x, jac="3-point", method="L-BFGS-B", bounds=bounds, options=options
                )
            gradient = result.jac if jac else optimize.approx_fprime(result.x, objective, 1e-6)
        except (ValueError, FloatingPointError, ArithmeticError) as error:
            result, gradient, failure = None, None, str(error)
        except _OutOfTime:
            result, gradient, failure = None, None, f"{max_seconds:g} 秒内 within {max_seconds:g} s"
    if result is not None:
        interior = np.abs(result.x) < _LOG_BOUND - 1e-6
        small = np.all(np.abs(np.where(interior, gradient, 0.0)) < _GRADIENT_TOLERANCE)
        if np.isfinite(result.fun) and np.all(np.isfinite(result.x)) and (result.success or small) and small:
            return [float(v) for v in np.exp(result.x)], float(-result.fun)
        failure = str(result.message)
    n, n_repeat = x.size, int(np.sum(x > 0))
    return ModelNotFitted(
        model, "not_converged",
        f"{model} 模型的优化未收敛（{failure}），无法可靠拟合模型",
        f"The {model} optimiser did not converge ({failure}); the model cannot be fitted reliably",
        n, n_repeat,
    )
