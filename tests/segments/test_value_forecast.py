"""The churn and value forecast inside the pipeline: fitted on every classification, stored per customer,
a clear fallback when the store is too small, and the risk list."""

import datetime as dt
from decimal import Decimal

import numpy as np
import polars as pl
import pytest
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.lib.dates import today
from kehu.sales.models import Order
from kehu.segments import pipeline
from kehu.segments.engine import clv, clv_data
from kehu.segments.engine import metrics as engine_metrics
from kehu.segments.models import CustomerMetrics, CustomerSegment, SegmentRun
from tests.conftest import make_customer, make_order


def seeded_store(n: int = 300, seed: int = 3) -> list[Customer]:
    """BG/NBD-like buyers over the last 400 days: rate ~ Gamma, drop-out after each purchase ~ Beta."""
    rng = np.random.default_rng(seed)
    customers = Customer.objects.bulk_create([Customer(name=f"客户{i}", code=f"KH{i:07d}") for i in range(n)])
    now = timezone.now().replace(hour=4, minute=0, second=0, microsecond=0)
    orders = []
    for customer in customers:
        rate, drop = rng.gamma(0.8, 1 / 25), rng.beta(1.0, 4.0)
        t = rng.uniform(0, 400)
        while t < 400:
            when = now - dt.timedelta(days=400 - t)
            orders.append(Order(customer=customer, ordered_at=when, amount=Decimal(int(rng.gamma(4, 25) * 100)) / 100))
            if rng.random() < drop:
                break
            t += rng.exponential(1 / rate)
    Order.objects.bulk_create(orders)
    pipeline.rebuild_metrics()
    return customers


def test_the_value_models_are_fitted_and_land_in_every_buyers_row(db):
    seeded_store()
    never = make_customer(name="无")
    result = pipeline.classify_all(today())
    model = result.run.value_model
    assert model["purchases"]["fitted"] and model["spend"]["fitted"], model
    # the purchase model is the one the holdout check chose, one that gives one-time buyers a churn probability
    chosen = model["model_check"]["chosen"]
    assert model["model_check"]["checked"] and model["purchases"]["model"] == chosen in ("MBG/NBD", "Pareto/NBD")
    assert set(model["purchases"]["params"]) == ({"r", "alpha", "a", "b"} if chosen == "MBG/NBD"
                                                 else {"r", "alpha", "s", "beta"})
    assert set(model["spend"]["params"]) == {"p", "q", "gamma"}
    assert model["purchases"]["log_likelihood"] < 0 and model["monthly_discount"] == 0.01
    assert model["time_unit"] == "days" and model["months"] == 12

    buyers = CustomerSegment.objects.exclude(lifecycle="潜在客户")
    assert buyers.count() == CustomerMetrics.objects.count() > 200
    assert not buyers.filter(p_alive__isnull=True).exists()
    for seg in buyers[:50]:
        assert 0 <= seg.p_alive <= 1
        assert 0 <= seg.expected_purchases_30d <= seg.expected_purchases_90d <= seg.expected_purchases_365d
        assert seg.expected_spend > 0 and seg.clv >= 0 and seg.value_at_risk >= 0
        assert "仍活跃的概率" in seg.explanation
    empty = CustomerSegment.objects.get(customer=never)
    assert (empty.p_alive, empty.clv, empty.value_at_risk) == (None, None, None)

    # The stored values are the engine's forecast on the summary built from the orders themselves.
    summary = clv_data.build_summary(pipeline.read_orders(), as_of=today(), date_col="ordered_at",
                                     amount_col="amount_cents")
    forecast = clv.forecast(summary.with_columns(pl.col("monetary_value") / 100), time_unit="days", model=chosen)
    expected = dict(zip(forecast.table["customer_id"], forecast.table["p_alive"], strict=True))
    for seg in buyers[:50]:
        assert seg.p_alive == pytest.approx(expected[seg.customer_id], abs=1e-6)
    once = buyers.filter(frequency=1).order_by("-last_order_day")
    # one-time buyers: the longer silent, the likelier gone
    assert once.last().p_alive < 0.5 * once.first().p_alive, (once.last().p_alive, once.first().p_alive)


def test_the_summary_from_maintained_metrics_equals_the_one_from_orders(db):
    seeded_store(n=120, seed=11)
    orders = pipeline.read_orders()
    from_orders = clv_data.build_summary(orders, as_of=today(), date_col="ordered_at", amount_col="amount_cents")
    stored = pipeline.read_stored_metrics()
    from_metrics = clv_data.summary_from_metrics(stored, as_of=today())
    assert from_metrics.select("customer_id", "frequency", "recency", "T").equals(
        from_orders.select("customer_id", "frequency", "recency", "T"))
    np.testing.assert_allclose(from_metrics["monetary_value"] * 100, from_orders["monetary_value"], rtol=1e-12)
    # and the same from an in-memory aggregate
    again = clv_data.summary_from_metrics(engine_metrics.aggregate_orders(orders), as_of=today())
    assert again.equals(from_metrics)


def test_a_tiny_store_records_why_there_is_no_forecast(db):
    wang = make_customer(name="王芳")
    make_order(wang, "100.00", days_ago=30)
    make_order(wang, "80.00", days_ago=3)
    make_order(make_customer(name="李娜"), "50.00", days_ago=10)
    result = pipeline.classify_all(today())
    model = SegmentRun.objects.get(as_of=today()).value_model
    assert result.run.value_model == model
    assert model["purchases"]["fitted"] is False and model["purchases"]["code"] == "too_few_customers"
    assert "客户少于 50 位" in model["purchases"]["reason"] and model["purchases"]["reason_en"]
    assert model["spend"]["fitted"] is False and model["spend"]["reason"]
    seg = CustomerSegment.objects.get(customer=wang)
    assert (seg.p_alive, seg.expected_purchases_90d, seg.expected_spend, seg.clv, seg.value_at_risk) == (
        None, None, None, None, None)
    assert "活跃概率" not in seg.explanation and seg.explanation
    assert list(pipeline.risk_list(10)) == []


def test_no_orders_at_all_still_classifies(db):
    make_customer()
    result = pipeline.classify_all(today())
    assert result.run.value_model["purchases"]["fitted"] is False
    assert CustomerSegment.objects.get().lifecycle == "潜在客户"


def test_the_risk_list_puts_the_most_value_at_stake_first(db, sam):
    seeded_store(n=200, seed=5)
    pipeline.classify_all(today())
    rows = list(pipeline.risk_list(20))
    assert len(rows) == 20
    values = [(r.value_at_risk, -r.customer_id) for r in rows]
    assert values == sorted(values, reverse=True)
    top = rows[0]
    assert top.value_at_risk == CustomerSegment.objects.exclude(value_at_risk=None).order_by(
        "-value_at_risk").first().value_at_risk
    # value at risk = (1 − P(alive)) × the 12-month value if still active, and CLV = P(alive) × that value
    for row in rows:
        if row.p_alive > 0.05:
            assert float(row.value_at_risk) == pytest.approx(
                (1 - row.p_alive) * float(row.clv) / row.p_alive, rel=1e-3, abs=0.05)

    # Ties are broken by customer id, and a scope limits the list to the customers a user may see.
    first, second = rows[0].customer, rows[1].customer
    CustomerSegment.objects.filter(customer__in=[first, second]).update(value_at_risk=Decimal("99999999.00"))
    tied = list(pipeline.risk_list(2))
    assert [r.customer_id for r in tied] == sorted([first.id, second.id])
    Customer.objects.filter(pk=second.pk).update(owner=sam)
    mine = list(pipeline.risk_list(5, user_scope_qs=Customer.objects.filter(owner=sam)))
    assert [r.customer_id for r in mine] == [second.id]


def test_the_model_check_is_made_at_most_once_a_week(db):
    seeded_store(n=150, seed=7)
    first = pipeline.classify_all(today()).run.value_model["model_check"]
    assert first["checked"] and first["end"] == today().isoformat()
    six_days = pipeline.classify_all(today() + dt.timedelta(days=6)).run.value_model
    assert six_days["model_check"] == first  # kept: the models' standing changes slowly
    assert six_days["purchases"]["model"] == first["chosen"]
    week = pipeline.classify_all(today() + dt.timedelta(days=7)).run.value_model["model_check"]
    assert week["end"] == (today() + dt.timedelta(days=7)).isoformat()
    earlier = pipeline.classify_all(today() - dt.timedelta(days=1)).run.value_model["model_check"]
    assert earlier["end"] == (today() - dt.timedelta(days=1)).isoformat()  # never a check from after the day


def test_the_nightly_model_check_reads_only_the_purchase_moments_and_counts_as_from_every_column(db, monkeypatch):
    """The check of a run without a rebuild reads (customer, time) of the counted orders alone; the purchase days it
    hands to the check are those a full rebuild's frame of every column gives (the check is a function of them)."""
    seeded_store(n=150, seed=11)
    make_order(Customer.objects.first(), amount="5.00", status="refunded")   # not counted either way
    moments = pipeline._read_counted_orders(moments_only=True)
    assert moments.columns == ["customer_id", "ordered_at"]
    assert len(moments) == Order.objects.completed().count()

    checked = []

    class Checked:
        def to_dict(self):
            return {}

    def check_models(days, **options):
        checked.append(days.sort("customer_id", "day"))
        return Checked()

    monkeypatch.setattr(pipeline.model_check, "check_models", check_models)
    no_fits = {"check": {}}
    pipeline._model_check(today(), no_fits)
    pipeline._model_check(today(), no_fits, pipeline.read_orders())
    lean, full = checked
    assert len(lean) > 150 and lean.columns == ["customer_id", "day"]
    assert lean.equals(full)


def test_a_recent_fit_stands_until_a_week_passes_or_the_buyers_move(db):
    seeded_store(n=150, seed=7)
    day = today()
    first = pipeline.classify_all(day).run.value_model
    assert (first["fitted_on"], first["fitted_customers"]) == (day.isoformat(), first["customers"])
    before = dict(CustomerSegment.objects.values_list("customer_id", "p_alive"))

    later = pipeline.classify_all(day + dt.timedelta(days=3)).run.value_model
    assert later["fitted_on"] == day.isoformat()   # the same parameters, not fitted again
    assert (later["purchases"], later["spend"]) == (first["purchases"], first["spend"])
    # Only the rows whose classes or figures changed in three days of silence are written again, with the values
    # of the new day from those parameters; the others keep the values of the day of the fit.
    fits = clv.fit_from(first["purchases"], "days"), clv.fit_from(first["spend"], "days")
    metrics = pipeline.read_stored_metrics().filter(pl.col("purchase_days") > 0)
    summary = clv_data.summary_from_metrics(
        metrics.select("customer_id", "first_order_at", "last_order_at", "purchase_days", "monetary_cents",
                       "first_day_cents"), as_of=day + dt.timedelta(days=3), time_unit="days")
    expected = dict(clv.forecast(summary, time_unit="days", fitted=fits).table.select("customer_id", "p_alive")
                    .iter_rows())
    after = {c: (on, p) for c, on, p in CustomerSegment.objects.values_list("customer_id", "changed_on", "p_alive")}
    kept = [c for c, (on, _) in after.items() if on == day]
    written = [c for c, (on, p) in after.items() if on == day + dt.timedelta(days=3) and p is not None]
    assert len(kept) > len(after) / 2 and written and len(kept) + len(written) <= len(after)
    assert all(after[c][1] == before[c] for c in kept)
    assert all(after[c][1] == pytest.approx(expected[c], abs=1e-6) and after[c][1] != before[c] for c in written)

    for i in range(3):   # 3 new buyers among ~140: more than 1 %, fitted again
        make_order(make_customer(name=f"新{i}"), "80.00", days_ago=0)
    moved = pipeline.classify_all(day + dt.timedelta(days=4)).run.value_model
    assert moved["fitted_on"] == (day + dt.timedelta(days=4)).isoformat()
    assert moved["fitted_customers"] == first["fitted_customers"] + 3
    week = pipeline.classify_all(day + dt.timedelta(days=11)).run.value_model
    assert week["fitted_on"] == (day + dt.timedelta(days=11)).isoformat()   # a week after the last fit
