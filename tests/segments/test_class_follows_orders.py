"""A customer's classes follow its orders (issue 9, item 3): add, change, refund and delete an order and the
customer's stored classes are those of the latest run's thresholds, references and cut-offs, at once.

Expectations are computed here, from the orders the tests write and the rules written out below, not by
the code under test; where a full `refresh` gives the same answer by construction (fixed thresholds), the
stored row is compared with the row a full refresh stores.
"""

import datetime as dt
import random
from decimal import Decimal

import polars as pl
import pytest
from django.urls import reverse
from django.utils import timezone

from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderLine, OrderStatus
from kehu.segments import pipeline, upkeep
from kehu.segments.engine import metrics as engine_metrics
from kehu.segments.engine.classify import Thresholds, classify, classify_customer, cutoffs
from kehu.segments.models import CustomerSegment, SegmentRun, SegmentSettings, SegmentSnapshot
from tests.conftest import make_customer

# The 8-class RFM rule, written out: (R high, F high, M high) → class.
RFM_RULE = {
    (True, True, True): "重要价值客户", (True, False, True): "重要发展客户",
    (False, True, True): "重要保持客户", (False, False, True): "重要挽留客户",
    (True, True, False): "一般价值客户", (True, False, False): "一般发展客户",
    (False, True, False): "一般保持客户", (False, False, False): "一般挽留客户",
}
FIXED = {"score_method": "fixed", "rfm_reference": "fixed", "frequency_tier_method": "fixed",
         "value_tier_method": "fixed"}
CLASS_COLUMNS = ("r_score", "f_score", "m_score", "r_high", "f_high", "m_high", "rfm_class", "rf_segment",
                 "frequency_tier", "value_tier", "lifecycle", "overdue", "trend", "first_order_day", "last_order_day",
                 "frequency", "monetary")


def at(days_ago: int, hour: int = 10) -> dt.datetime:
    """A moment `days_ago` days before today, local time (so recency in days is exact)."""
    day = today() - dt.timedelta(days=days_ago)
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))


def buy(customer, days_ago: int, amount: str, **fields) -> Order:
    return Order.objects.create(customer=customer, ordered_at=at(days_ago), amount=Decimal(amount), **fields)


@pytest.fixture
def follows(django_capture_on_commit_callbacks):
    """Run the commit callbacks of the writes in the block (the test's own transaction never commits)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def shop(db, follows):
    """Twelve customers with known orders (days ago, yuan), classified today with the default thresholds."""
    plan = {
        "A": [(600, "336")], "B": [(5, "2000"), (40, "1500"), (90, "800")], "C": [(20, "90")],
        "D": [(200, "5000"), (260, "4000")], "E": [(10, "300"), (15, "300"), (30, "300"), (45, "300")],
        "F": [(120, "60")], "G": [(2, "12000")], "H": [(400, "700"), (420, "700")], "I": [(60, "250")],
        "J": [(8, "80"), (9, "80")], "K": [(365, "1000")], "L": [(33, "4500"), (70, "100")],
    }
    customers = {}
    with follows():   # before the first run: nothing to classify
        for name, orders in plan.items():
            customers[name] = make_customer(name=f"客户{name}")
            for days_ago, amount in orders:
                buy(customers[name], days_ago, amount)
    pipeline.refresh()
    return customers, plan


def population(plan: dict) -> dict[str, tuple[int, int, Decimal]]:
    """(recency days, orders, spend) of each customer of the plan, computed from the plan itself."""
    return {name: (min(d for d, _ in orders), len(orders), sum(Decimal(a) for _, a in orders))
            for name, orders in plan.items()}


def stored(customer) -> CustomerSegment:
    return CustomerSegment.objects.get(customer=customer)


# --- the 8-class model and lifecycle against the run's references ----------------------------------------

def test_it_reclassifies_a_customer_at_once_when_an_order_is_added(shop, follows):
    customers, plan = shop
    figures = population(plan)
    n = len(figures)
    mean_r = sum(r for r, _, _ in figures.values()) / n
    mean_f = sum(f for _, f, _ in figures.values()) / n
    mean_m = sum(m for _, _, m in figures.values()) / n
    run = SegmentRun.objects.get()
    assert run.references["recency_days"] == pytest.approx(mean_r)
    assert stored(customers["A"]).rfm_class == "一般挽留客户" and stored(customers["A"]).lifecycle == "流失客户"

    with follows():
        buy(customers["A"], 0, "50000")   # the ¥50,000 order of the issue, today

    row = stored(customers["A"])
    recency, frequency, spend = 0, 2, Decimal("50336")
    expected = RFM_RULE[(recency < mean_r, frequency > mean_f, spend > mean_m)]
    assert (row.recency_days, row.frequency, row.monetary) == (0, 2, Decimal("50336.00"))
    assert row.rfm_class == expected == "重要价值客户"
    # lifecycle, written out: last order ≤ 90 days ago, first order 600 days ago, fewer than 5 orders
    assert row.lifecycle == "活跃客户"
    assert row.as_of == today()
    assert "共 2 笔订单" in row.explanation and "¥50,336" in row.explanation
    # The run is of today, so today's snapshot (movement between days) has the new class too.
    snapshot = SegmentSnapshot.objects.get(customer=customers["A"], as_of=today())
    assert snapshot.class_name("rfm_class") == "重要价值客户" and snapshot.class_name("lifecycle") == "活跃客户"


def test_a_refund_a_change_and_a_delete_each_move_the_classes_back(shop, follows):
    customers, plan = shop
    n = len(plan)
    figures = population(plan)
    mean_r = sum(r for r, _, _ in figures.values()) / n
    mean_m = sum(m for _, _, m in figures.values()) / n
    with follows():
        big = buy(customers["C"], 1, "9000")
    assert stored(customers["C"]).rfm_class == RFM_RULE[(True, True, True)]   # 2 orders > mean 1.67, ¥9,090

    with follows():
        big.amount = Decimal("10.00")   # changed: ¥100 in all, below the mean spend
        big.save()
    row = stored(customers["C"])
    assert row.monetary == Decimal("100.00") and Decimal(100) < mean_m
    assert row.rfm_class == RFM_RULE[(mean_r > 1, True, False)] == "一般价值客户"

    with follows():
        big.status = OrderStatus.REFUNDED
        big.save()
    row = stored(customers["C"])
    assert (row.frequency, row.monetary, row.recency_days) == (1, Decimal("90.00"), 20)
    assert row.rfm_class == RFM_RULE[(mean_r > 20, False, False)] == "一般发展客户"

    with follows():
        Order.objects.filter(customer=customers["C"]).delete()
    row = stored(customers["C"])
    assert (row.lifecycle, row.rfm_class, row.frequency, row.recency_days) == ("潜在客户", "", 0, None)


def test_on_postgresql_the_class_row_is_written_in_one_shape_whatever_changed(shop, follows):
    """Each class write of PostgreSQL is one prepared statement per shape (an upsert of the whole row): an order
    added, changed, refunded, and a second customer's order, change different columns but prepare no new statement;
    and a customer classified again with nothing changed is not written at all (the row keeps its place, ctid)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("prepared statements are PostgreSQL's; SQLite writes the columns that changed")
    customers, _ = shop
    with follows():
        big = buy(customers["C"], 1, "9000")
    with follows():
        big.amount = Decimal("10.00")
        big.save()
    with follows():
        big.status = OrderStatus.REFUNDED
        big.save()
    with follows():
        buy(customers["K"], 3, "15")
    assert (stored(customers["C"]).monetary, stored(customers["K"]).frequency) == (Decimal("90.00"), 2)
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        statements = [row[0] for row in cursor.fetchall()]
    # the metrics of an order after the customer's last one: prepared too, not planned again per order
    assert any(s.startswith("UPDATE segments_customermetrics SET interval_sq_sum") for s in statements)
    for table in ("segments_customersegment", "segments_segmentsnapshot"):
        writes = {s for s in statements if f"INSERT INTO {table}" in s or f"UPDATE {table}" in s}
        assert len(writes) == 1 and "ON CONFLICT" in next(iter(writes)), writes   # one shape, whatever changed

    def version(customer) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT ctid::text FROM segments_customersegment WHERE customer_id = %s", [customer.pk])
            return cursor.fetchone()[0]

    before = version(customers["K"])
    assert upkeep.reclassify([customers["K"].pk]) == 1
    assert version(customers["K"]) == before
    # the purchase rhythm off in its 15th digit (the engine divides in another order): no change either
    rhythm = stored(customers["K"]).mean_interval_days
    CustomerSegment.objects.filter(customer=customers["K"]).update(mean_interval_days=rhythm * (1 + 3e-15))
    before = version(customers["K"])
    upkeep.reclassify([customers["K"].pk])
    assert version(customers["K"]) == before
    CustomerSegment.objects.filter(customer=customers["K"]).update(frequency=99)   # a stale row is written again
    upkeep.reclassify([customers["K"].pk])
    assert stored(customers["K"]).frequency == 2 and version(customers["K"]) != before


def test_a_new_customer_with_two_orders_gets_classes_as_soon_as_a_run_exists(shop, follows):
    newcomer = make_customer(name="新客户甲")
    with follows():
        buy(newcomer, 3, "120")
        buy(newcomer, 1, "80")
    row = stored(newcomer)
    # tenure 3 days ≤ 30 → 新客户; 2 orders; ¥200
    assert (row.frequency, row.monetary, row.lifecycle, row.tenure_days) == (2, Decimal("200.00"), "新客户", 3)
    assert row.rfm_class and row.r_score is not None


def test_deleting_a_customer_with_orders_leaves_no_class_row_behind(shop, follows, caplog):
    customers, _ = shop
    with follows():
        customers["B"].delete()   # its orders go with it, each asking for the customer to follow
    assert not [r for r in caplog.records if r.levelname == "ERROR"]
    assert not CustomerSegment.objects.filter(customer_id=customers["B"].pk).exists()
    assert CustomerSegment.objects.count() == len(customers) - 1


def test_nothing_is_classified_before_the_first_run(db, follows):
    wang = make_customer()
    with follows():
        buy(wang, 1, "100")
    assert not CustomerSegment.objects.filter(customer=wang).exists()


def test_several_orders_and_lines_in_one_transaction_classify_once_at_the_commit(shop,
                                                                                  django_capture_on_commit_callbacks):
    customers, _ = shop
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        for days_ago in (1, 2, 3):
            buy(customers["F"], days_ago, "100")
    assert len(callbacks) == 1
    assert stored(customers["F"]).frequency == 4


def test_category_loyalty_follows_the_lines_of_an_order(shop, follows):
    customers, _ = shop
    tea = Category.objects.create(name="茶叶")
    assert stored(customers["J"]).category_loyalty == ""
    with follows():
        order = buy(customers["J"], 0, "600")
    assert stored(customers["J"]).category_loyalty == ""
    with follows():   # a line added later, on its own
        OrderLine.objects.create(order=order, product_name="龙井", category=tea, quantity=Decimal("2"),
                                 unit_price=Decimal("300"))
    # all of the categorised spend in 茶叶, 3 orders (at least 2) → 茶叶忠实客户
    assert stored(customers["J"]).category_loyalty == "茶叶忠实客户"


# --- ranked classes against the run's cut-offs --------------------------------------------------------------

def test_quintile_scores_and_abc_follow_the_runs_cut_offs(shop, follows):
    customers, plan = shop
    figures = population(plan)
    ids = {name: c.pk for name, c in customers.items()}
    with follows():
        buy(customers["I"], 0, "20000")
    row = stored(customers["I"])
    # The run's M quintiles, written out: customers ranked by spend (ties by id), position p → p * 5 // n + 1.
    # Customer I now spends ¥20,250: more than everyone in the run, so it takes the place after the last one.
    ranked = sorted(figures, key=lambda name: (figures[name][2], ids[name]))
    assert Decimal("20250") > figures[ranked[-1]][2]
    assert row.m_score == (len(ranked) - 1) * 5 // len(ranked) + 1 == 5
    # R: most recent → 5. Recency 0 beats every recency in the run.
    assert row.r_score == 5
    # ABC: with ¥20,250 the customer comes first by spend, so nobody's spend is before it: A.
    assert row.abc_class == "A"
    # And a customer whose spend falls to nothing sorts last: the C cut-off of the run, written out.
    total = sum(m for _, _, m in figures.values())
    before, last_a_or_b = Decimal(0), None
    for name in sorted(figures, key=lambda name: (-figures[name][2], ids[name])):
        if before / total < Decimal("0.95"):
            last_a_or_b = name
        before += figures[name][2]
    assert last_a_or_b is not None
    with follows():
        Order.objects.filter(customer=customers["G"]).update(status=OrderStatus.REFUNDED)  # no signals
        pipeline.refresh_customers([customers["G"].pk])                                  # as an import does
        buy(customers["G"], 0, "0.01")
    row = stored(customers["G"])
    assert (row.frequency, row.monetary, row.abc_class, row.m_score) == (1, Decimal("0.01"), "C", 1)


def test_with_fixed_thresholds_every_change_gives_the_row_a_full_refresh_gives(db, follows):
    SegmentSettings.store(Thresholds.from_dict(FIXED))
    rng = random.Random(5)
    with follows():
        people = [make_customer(name=f"客户{i}") for i in range(15)]
        for person in people:
            for _ in range(rng.randrange(1, 5)):
                buy(person, rng.randrange(1, 500), str(rng.randrange(10, 5000)))
    pipeline.refresh()
    target = people[3]

    def check() -> None:
        followed = {c: getattr(stored(target), c) for c in CLASS_COLUMNS}
        pipeline.refresh()
        full = {c: getattr(stored(target), c) for c in CLASS_COLUMNS}
        assert followed == full

    with follows():
        order = buy(target, 0, "3500")
    check()
    with follows():
        order.ordered_at = at(200)
        order.save()
    check()
    with follows():
        order.status = OrderStatus.REFUNDED
        order.save()
    check()
    with follows():
        Order.objects.filter(customer=target).delete()
    check()


# --- a run of an earlier day ------------------------------------------------------------------------------------

def test_against_a_run_of_an_earlier_day_recency_is_compared_as_of_that_day(shop, follows):
    customers, _ = shop
    run = SegmentRun.objects.get()
    SegmentRun.objects.filter(pk=run.pk).update(as_of=today() - dt.timedelta(days=10))
    mean_r = run.references["recency_days"]
    days_ago = int(mean_r) + 5   # beyond the run's mean, within it ten days on
    with follows():
        buy(customers["K"], days_ago, "1")
    row = stored(customers["K"])
    # Ten days on, everyone's recency is ten days longer: the mean it is compared with, too.
    assert row.as_of == today() and row.recency_days == days_ago
    assert days_ago > mean_r and days_ago < mean_r + 10
    assert row.r_high is True
    assert f"优于平均的 {mean_r + 10:.1f} 天" in row.explanation


# --- the churn and value forecast from the run's fitted parameters ----------------------------------------------

def test_the_value_forecast_follows_from_the_last_fitted_parameters(shop, follows):
    customers, _ = shop
    r, alpha, a, b = 0.5, 10.0, 0.8, 2.5
    p, q, gamma = 6.0, 4.0, 15.0
    SegmentRun.objects.update(value_model={
        "purchases": {"model": "BG/NBD", "fitted": True, "params": {"r": r, "alpha": alpha, "a": a, "b": b},
                      "log_likelihood": -1.0, "n_customers": 12, "n_repeat_buyers": 5},
        "spend": {"model": "Gamma-Gamma", "fitted": True, "params": {"p": p, "q": q, "gamma": gamma},
                  "log_likelihood": -1.0, "n_customers": 12, "n_repeat_buyers": 5},
        "time_unit": "days", "months": 12, "monthly_discount": 0.01})
    with follows():
        buy(customers["E"], 0, "300")
    row = stored(customers["E"])
    # Purchase days 45, 30, 15, 10 and 0 days ago: x = 4 repeat days, t_x = 45 − 0, T = 45.
    x, t_x, T = 4, 45.0, 45.0
    p_alive = 1 / (1 + a / (b + x - 1) * ((alpha + T) / (alpha + t_x)) ** (r + x))
    assert row.p_alive == pytest.approx(p_alive, abs=1e-6) == pytest.approx(1 / (1 + a / (b + x - 1)))
    mean_repeat = 300.0   # the first day's ¥300 is left out; the four repeat days spent ¥300 each
    expected_spend = (p * gamma + p * x * mean_repeat) / (p * x + q - 1)
    assert float(row.expected_spend) == pytest.approx(expected_spend, abs=0.006)
    assert float(row.clv) > 0 and row.value_at_risk is not None
    assert float(row.clv) + float(row.value_at_risk) == pytest.approx(float(row.clv) / row.p_alive, rel=1e-4)


# --- the engine: one customer placed by cut-offs is where the whole table put it --------------------------------

@pytest.mark.parametrize("settings_", [{}, FIXED, {"rfm_reference": "median", "frequency_tier_method": "share"}])
def test_one_customer_placed_by_the_cut_offs_gets_the_classes_the_whole_table_gave(settings_):
    rng = random.Random(len(settings_))
    rows = [(c, dt.datetime(2024, 1, 1) + dt.timedelta(days=rng.randrange(780), seconds=rng.randrange(86400)),
             rng.choice([100, 500, 1000, 2500, 30000]), rng.choice(["茶", "酒", None]))
            for c in range(1, 300) for _ in range(rng.choice([1, 1, 1, 2, 3, 5, 8]))]
    orders = pl.DataFrame(rows, schema=["customer_id", "ordered_at", "amount_cents", "category"], orient="row")
    thresholds = Thresholds.from_dict(settings_)
    table, refs = classify(engine_metrics.compute_metrics(orders, dt.date(2026, 3, 1)), thresholds)
    bounds = cutoffs(table, thresholds)
    for row in table.iter_rows(named=True):
        placed = classify_customer(row, thresholds, refs, bounds)
        assert {k: row[k] for k in placed} == placed, row["customer_id"]


# --- every path: an import (bulk) and the page --------------------------------------------------------------

def test_bulk_writes_repaired_by_refresh_customers_are_classified_too(shop):
    customers, _ = shop
    Order.objects.bulk_create([Order(customer=customers["H"], ordered_at=at(0), amount=Decimal("8000"))])
    pipeline.refresh_customers([customers["H"].pk])
    row = stored(customers["H"])
    assert (row.frequency, row.recency_days, row.lifecycle) == (3, 0, "活跃客户")


def test_the_customer_page_shows_the_runs_day_and_a_manager_can_re_run_from_it(client, mary, sam, shop, follows):
    customers, _ = shop
    a = customers["A"]
    a.owner = sam
    a.save()
    with follows():
        buy(a, 0, "50000")
    client.force_login(mary)
    page = client.get(reverse("customers:detail", args=[a.code])).content.decode()
    assert "共 2 笔订单" in page and "重要价值客户" in page and "一般挽留客户" not in page
    assert f"来自 {SegmentRun.objects.get().as_of:%Y-%m-%d} 的分层计算" in page
    assert reverse("segments:recompute") in page and "data-stale" not in page
    response = client.post(reverse("segments:recompute"), {"next": reverse("customers:detail", args=[a.code])})
    assert response.status_code == 302 and response.url == reverse("customers:detail", args=[a.code])
    client.force_login(sam)
    assert reverse("segments:recompute") not in client.get(reverse("customers:detail", args=[a.code])).content.decode()


def test_the_page_says_so_when_classes_do_not_describe_the_orders(client, mary, shop):
    customers, _ = shop
    Order.objects.bulk_create([Order(customer=customers["B"], ordered_at=at(0), amount=Decimal("5"))])
    pipeline.rebuild_metrics()   # metrics follow a bulk write, the classes were not asked to
    client.force_login(mary)
    page = client.get(reverse("customers:detail", args=[customers["B"].code])).content.decode()
    assert "data-stale" in page
    upkeep.reclassify([customers["B"].pk])
    page = client.get(reverse("customers:detail", args=[customers["B"].code])).content.decode()
    assert "data-stale" not in page
