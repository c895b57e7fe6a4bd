"""Every entry point of the analytics engine gives the same results on Polars eager, Polars lazy, DuckDB and
PySpark, on a seeded set of 20,000 orders; R, F, M, the quintile scores and the 8-class RFM model are also
checked against a plain Python computation written here.

Floats may differ in the last bit (Polars divides a column by a number a little differently from DuckDB and
Spark), so they are compared to 1e-12 relative; integers, dates, flags and every class exactly.
DuckDB and PySpark come with the optional ``spark`` extra; without them (or without Java) their cases are
skipped with the reason, except under CI, where KEHU_REQUIRE_SPARK=1 makes that a failure. Spark runs in
one process (local[1]), one session for the whole test run (set for small tables), and only in one test per
backend case.
"""

import bisect
import datetime as dt
import os
from collections import defaultdict
from dataclasses import astuple

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from kehu.segments.engine import backends, clv_data
from kehu.segments.engine import metrics as engine
from kehu.segments.engine.classify import RFM_CLASSES, References, Thresholds, classify, cutoffs, references

AS_OF = dt.date(2024, 6, 30)
ORDERS = 20_000
CUSTOMERS = 4_000   # some never buy, some buy only after AS_OF


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("KEHU_REQUIRE_SPARK"):
        pytest.fail(f"{reason}, and KEHU_REQUIRE_SPARK is set")
    pytest.skip(reason)


@pytest.fixture(params=backends.BACKENDS)
def backend(request):
    if request.param == "duckdb":
        try:
            import duckdb  # noqa: F401
        except ImportError:
            _require('DuckDB is not installed (pip install -e ".[spark]")')
    if request.param == "spark":
        _require(backends.spark_missing())
        backends.spark_session("local[1]", partitions=1, small=True)
    return request.param


@pytest.fixture(scope="module")
def orders() -> pl.DataFrame:
    """20,000 orders (UTC epoch µs, the local day in Shanghai, cents, a category or none), some in the same
    second, many on the same day, 5 % after AS_OF."""
    return backends.synthetic_orders(ORDERS, CUSTOMERS, 20_000)


@pytest.fixture(scope="module")
def eager(orders):
    """Every entry point on Polars eager: the reference the other backends are held to."""
    return run_all(orders, "polars", reference=None)


def everyone(metrics: pl.DataFrame) -> pl.DataFrame:
    """Metrics of every customer, those who never bought (or only after AS_OF) with null metrics."""
    ids = pl.DataFrame({"customer_id": pl.int_range(1, CUSTOMERS + 1, eager=True, dtype=pl.Int64)})
    return ids.join(metrics, on="customer_id", how="left")


def run_all(orders: pl.DataFrame, backend: str, reference: dict | None) -> dict:
    """Each entry point on `backend`. A step that needs another's result gets the Polars-eager one
    (`reference`; the step's own on the reference run), so each is checked on its own; compute → classify
    also runs chained on the backend."""
    on = lambda frame: backends.to_backend(frame, backend)  # noqa: E731
    got = {}

    def given(name: str) -> pl.DataFrame:
        return reference[name] if reference else backends.to_polars(got[name])

    lines = orders.select("customer_id", "category", "amount_cents")
    shares = Thresholds(rfm_reference="median", frequency_tier_method="share", value_tier_method="share")
    got["period"] = engine.select_period(on(orders), AS_OF, window_months=6)
    got["aggregates"] = engine.aggregate_orders(on(orders.filter(pl.col("order_day") <= engine.day_number(AS_OF))))
    got["spend"] = engine.category_spend(on(lines))
    got["summary"] = engine.category_summary(on(given("spend")))
    got["trend"] = engine.trend_spend(on(orders), AS_OF, 3)
    got["derived"] = engine.derive_metrics(on(given("aggregates")), AS_OF, categories=on(given("summary")),
                                           trend=on(given("trend")))
    got["metrics"] = engine.compute_metrics(on(orders), AS_OF)
    got["window"] = engine.compute_metrics(on(orders.drop("category")), AS_OF, lines=on(lines), window_months=6)
    metrics = given("metrics")
    got["classes"], got["refs"] = classify(on(everyone(metrics)))
    got["shares"], got["refs_median"] = classify(on(everyone(metrics)), shares)
    got["chained"], got["refs_chained"] = classify(engine.compute_metrics(on(orders), AS_OF))
    got["cutoffs"] = cutoffs(on(given("classes")), Thresholds())
    got["cutoffs_shares"] = cutoffs(on(given("shares")), shares)
    got["references"] = references(on(metrics), Thresholds())
    got["clv"] = clv_data.summary_from_metrics(on(metrics.select(
        "customer_id", "first_day", "last_day", "purchase_days", "monetary_cents", "first_day_cents")), as_of=AS_OF)
    return got


KEYS = {"period": ["customer_id", "ordered_us", "amount_cents"], "spend": ["customer_id", "category"]}


def test_every_entry_point_gives_the_same_results_on_every_backend(orders, eager, backend):
    got = eager if backend == "polars" else run_all(orders, backend, reference=eager)
    for name, want in eager.items():
        if isinstance(want, pl.DataFrame):
            keys = KEYS.get(name, ["customer_id"])
            assert_frame_equal(backends.to_polars(got[name]).sort(keys), want.sort(keys), check_dtypes=False,
                               rel_tol=1e-12, abs_tol=0)
        elif isinstance(want, References):  # means and medians: sums in another order may differ in the last bit
            assert (got[name].method, got[name].customers) == (want.method, want.customers), name
            assert astuple(got[name])[1:4] == pytest.approx(astuple(want)[1:4], rel=1e-12), name
        else:
            assert got[name] == want, name
    assert len(eager["classes"]) == CUSTOMERS and eager["cutoffs"]["abc_class"][0] is not None


def test_the_results_are_those_of_a_plain_computation(orders, eager):
    """R, F, M, the quintile scores and the 8-class model, counted here in plain Python from the rows."""
    today = engine.day_number(AS_OF)
    bought = defaultdict(lambda: [0, 0, None])  # orders, cents, last day
    for customer, day, cents in orders.select("customer_id", "order_day", "amount_cents").iter_rows():
        if day <= today:
            row = bought[customer]
            row[0] += 1
            row[1] += cents
            row[2] = day if row[2] is None else max(row[2], day)
    recency = {c: today - row[2] for c, row in bought.items()}
    n = len(bought)

    def score(worse: int) -> int:  # the number of customers strictly worse, in fifths
        return worse * 5 // n + 1

    classes = {row["customer_id"]: row for row in eager["classes"].iter_rows(named=True)}
    mean_r = sum(recency.values()) / n
    mean_f = sum(row[0] for row in bought.values()) / n
    mean_m = sum(row[1] for row in bought.values()) / n
    assert eager["refs"].customers == n
    assert eager["refs"].recency_days == pytest.approx(mean_r, rel=1e-12)
    r_values, f_values = sorted(recency.values()), sorted(row[0] for row in bought.values())
    m_values = sorted(row[1] for row in bought.values())
    for customer in range(1, CUSTOMERS + 1):
        row = classes[customer]
        if customer not in bought:
            assert (row["frequency"], row["r_score"], row["rfm_class"]) == (None, None, "")
            assert row["lifecycle"] == "潜在客户"
            continue
        f, m = bought[customer][:2]
        r = recency[customer]
        assert (row["recency_days"], row["frequency"], row["monetary_cents"]) == (r, f, m)
        assert row["r_score"] == score(n - bisect.bisect_right(r_values, r))
        assert row["f_score"] == score(bisect.bisect_left(f_values, f))
        assert row["m_score"] == score(bisect.bisect_left(m_values, m))
        high = (r < mean_r, f > mean_f, m > mean_m)
        assert row["rfm_class"] == RFM_CLASSES[(not high[2]) * 4 + (not high[0]) * 2 + (not high[1])]
