"""Metrics kept current by signals, the full rebuild, classification into the store, snapshots, the command."""

import datetime as dt
import itertools
from decimal import Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderLine, OrderStatus
from kehu.segments import pipeline
from kehu.segments.engine.classify import Thresholds
from kehu.segments.models import (
    CustomerCategorySpend,
    CustomerMetrics,
    CustomerSegment,
    SegmentRun,
    SegmentSettings,
    SegmentSnapshot,
)
from kehu.segments.signals import epoch_seconds
from tests.conftest import make_customer, make_order

BASE = dt.datetime(2024, 3, 1, 10, 0, tzinfo=dt.UTC)


def order_at(customer, when: dt.datetime, amount: str = "100.00", **fields) -> Order:
    return Order.objects.create(customer=customer, ordered_at=when, amount=Decimal(amount), **fields)


def stored_state() -> tuple[dict, dict]:
    metrics = {
        m.customer_id: (m.first_order_at, m.last_order_at, m.frequency, m.monetary, m.interval_sq_sum, m.categories,
                        m.category_spend, m.top_category_id, m.top_category_spend, m.purchase_days,
                        m.first_day_spend)
        for m in CustomerMetrics.objects.all()
    }
    spend = {(s.customer_id, s.category_id): (s.spend, s.lines) for s in CustomerCategorySpend.objects.all()}
    return metrics, spend


def square_gaps(times: list[dt.datetime]) -> int:
    seconds = sorted(epoch_seconds(t) for t in times)
    return sum((b - a) ** 2 for a, b in itertools.pairwise(seconds))


# --- incremental metrics ---------------------------------------------------------------------------------

def test_it_counts_a_new_order_in_its_customers_metrics(db):
    wang = make_customer(name="王芳")
    order_at(wang, BASE, "100.50")
    order_at(wang, BASE + dt.timedelta(days=10), "20.00")
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.frequency, m.monetary, m.first_order_at, m.last_order_at) == (
        2, Decimal("120.50"), BASE, BASE + dt.timedelta(days=10))
    assert m.interval_sq_sum == (10 * 86400) ** 2
    assert m.mean_interval_days == 10 and m.std_interval_days is None and m.avg_order_value == Decimal("60.25")


def test_an_order_in_the_middle_splits_a_gap(db):
    wang = make_customer()
    times = [BASE, BASE + dt.timedelta(days=10), BASE + dt.timedelta(days=4, seconds=7)]
    for t in times:
        order_at(wang, t)
    m = CustomerMetrics.objects.get(customer=wang)
    assert m.interval_sq_sum == square_gaps(times) == (4 * 86400 + 7) ** 2 + (6 * 86400 - 7) ** 2
    assert m.std_interval_days == pytest.approx(
        ((4 + 7 / 86400 - 5) ** 2 + (6 - 7 / 86400 - 5) ** 2) ** 0.5)


def test_a_refund_takes_the_order_out_and_completing_it_puts_it_back(db):
    wang = make_customer()
    first = order_at(wang, BASE, "10.00")
    last = order_at(wang, BASE + dt.timedelta(days=3), "30.00")
    last.status = OrderStatus.REFUNDED
    last.save()
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.frequency, m.monetary, m.last_order_at, m.interval_sq_sum) == (1, Decimal("10.00"), BASE, 0)
    first.status = OrderStatus.REFUNDED
    first.save()
    assert not CustomerMetrics.objects.filter(customer=wang).exists()
    last.status = OrderStatus.COMPLETED
    last.save()
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.frequency, m.monetary, m.first_order_at) == (1, Decimal("30.00"), BASE + dt.timedelta(days=3))


def test_taking_out_the_first_order_or_one_of_two_on_a_day(db):
    """Removing orders from the front and the middle: the first order, the purchase days and the first day's spend
    follow (figures written out from the orders below)."""
    wang = make_customer()
    first = order_at(wang, BASE, "10.00")
    order_at(wang, BASE + dt.timedelta(days=2), "20.00")
    twin = order_at(wang, BASE + dt.timedelta(days=2, hours=1), "5.00")
    order_at(wang, BASE + dt.timedelta(days=6), "40.00")
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.purchase_days, m.first_day_spend) == (3, Decimal("10.00"))
    first.status = OrderStatus.REFUNDED   # the only order of the first day: the next day becomes the first
    first.save()
    m = CustomerMetrics.objects.get(customer=wang)
    gaps = [3600, 4 * 86400 - 3600]
    assert (m.first_order_at, m.last_order_at, m.frequency, m.monetary) == (
        BASE + dt.timedelta(days=2), BASE + dt.timedelta(days=6), 3, Decimal("65.00"))
    assert (m.purchase_days, m.first_day_spend, m.interval_sq_sum) == (2, Decimal("25.00"), sum(g * g for g in gaps))
    twin.delete()   # one of two orders of a day: the day still counts, its spend goes
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.first_order_at, m.frequency, m.monetary, m.purchase_days, m.first_day_spend, m.interval_sq_sum) == (
        BASE + dt.timedelta(days=2), 2, Decimal("60.00"), 2, Decimal("20.00"), (4 * 86400) ** 2)


def test_an_only_order_moved_in_time_keeps_its_category_summary(db):
    """Moving a customer's only order takes its metrics row away and makes it again; the category rows stay, and
    the new row sums them: two categories, the larger one on top (then a tie: the smaller id)."""
    wang = make_customer()
    shoes, hats = Category.objects.create(name="鞋"), Category.objects.create(name="帽")
    order = order_at(wang, BASE, "80.00")
    OrderLine.objects.create(order=order, product_name="跑鞋", category=shoes, quantity=Decimal("2"),
                             unit_price=Decimal("25.00"))
    OrderLine.objects.create(order=order, product_name="帽子", category=hats, quantity=Decimal("1"),
                             unit_price=Decimal("30.00"))
    order.ordered_at = BASE + dt.timedelta(days=5)
    order.save()
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.first_order_at, m.frequency, m.monetary, m.purchase_days, m.first_day_spend) == (
        BASE + dt.timedelta(days=5), 1, Decimal("80.00"), 1, Decimal("80.00"))
    assert (m.categories, m.category_spend, m.top_category_id, m.top_category_spend) == (
        2, Decimal("80.00"), shoes.pk, Decimal("50.00"))
    OrderLine.objects.create(order=order, product_name="帽子", category=hats, quantity=Decimal("1"),
                             unit_price=Decimal("20.00"))   # hats 50.00 = shoes 50.00: the smaller id
    order.ordered_at = BASE + dt.timedelta(days=9)
    order.save()
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.categories, m.category_spend, m.top_category_id, m.top_category_spend) == (
        2, Decimal("100.00"), min(shoes.pk, hats.pk), Decimal("50.00"))


def test_orders_put_before_the_last_one_on_the_first_day_a_new_day_and_before_the_first(db):
    """Back-dated orders (figures written out): one later on the first day adds to that day's spend, one on a new day
    in the middle adds a purchase day, one before the first becomes the first order and the first day."""
    wang = make_customer()
    order_at(wang, BASE, "10.00")
    order_at(wang, BASE + dt.timedelta(days=3), "30.00")
    order_at(wang, BASE + dt.timedelta(hours=2), "5.00")
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.frequency, m.monetary, m.purchase_days, m.first_day_spend, m.first_order_at) == (
        3, Decimal("45.00"), 2, Decimal("15.00"), BASE)
    order_at(wang, BASE + dt.timedelta(days=1), "7.00")
    order_at(wang, BASE - dt.timedelta(days=2), "1.00")
    m = CustomerMetrics.objects.get(customer=wang)
    times = [BASE - dt.timedelta(days=2), BASE, BASE + dt.timedelta(hours=2), BASE + dt.timedelta(days=1),
             BASE + dt.timedelta(days=3)]
    assert (m.frequency, m.monetary, m.purchase_days, m.first_day_spend) == (5, Decimal("53.00"), 4, Decimal("1.00"))
    assert (m.first_order_at, m.last_order_at, m.interval_sq_sum) == (times[0], times[-1], square_gaps(times))


def test_changing_the_amount_or_deleting_the_last_order(db):
    wang = make_customer()
    order_at(wang, BASE, "10.00")
    last = order_at(wang, BASE + dt.timedelta(days=3), "30.00")
    last.amount = Decimal("35.50")
    last.save()
    assert CustomerMetrics.objects.get(customer=wang).monetary == Decimal("45.50")
    last.delete()
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.frequency, m.monetary, m.last_order_at, m.interval_sq_sum) == (1, Decimal("10.00"), BASE, 0)


def test_moving_an_order_to_another_customer_moves_its_lines(db):
    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    shoes = Category.objects.create(name="鞋")
    order = order_at(wang, BASE, "99.00")
    OrderLine.objects.create(order=order, product_name="跑鞋", category=shoes, quantity=Decimal("1.5"),
                             unit_price=Decimal("0.01"))
    assert CustomerCategorySpend.objects.get(customer=wang).spend == Decimal("0.02")  # 0.015 → 0.02 (half-even)
    assert CustomerMetrics.objects.get(customer=wang).categories == 1
    order.customer = li
    order.save()
    assert not CustomerMetrics.objects.filter(customer=wang).exists()
    assert not CustomerCategorySpend.objects.filter(customer=wang).exists()
    assert CustomerMetrics.objects.get(customer=li).categories == 1


def test_keeping_metrics_current_reads_nothing_of_the_customers_history(db, django_assert_max_num_queries):
    wang = make_customer()
    for day in range(30):
        order_at(wang, BASE + dt.timedelta(days=day))
    # An appended order: insert + lock/read metrics + update (inside savepoints), no neighbour look-ups.
    with django_assert_max_num_queries(8):
        order_at(wang, BASE + dt.timedelta(days=40))
    with django_assert_max_num_queries(12):
        order_at(wang, BASE + dt.timedelta(days=15, hours=1))  # in the middle: two indexed look-ups more


# --- the property: incremental == rebuild ----------------------------------------------------------------

AMOUNTS = st.sampled_from(["0.00", "0.01", "9.99", "100.50", "1234.56"])
MOMENTS = st.builds(lambda day, sec, micro: BASE + dt.timedelta(days=day, seconds=sec, microseconds=micro),
                    st.integers(0, 6), st.sampled_from([0, 1, 3600, 6 * 3600]),  # 6 h: local midnight
                    st.sampled_from([0, 1, 500_000, 999_999]))
STATUSES = st.sampled_from([OrderStatus.COMPLETED, OrderStatus.COMPLETED, OrderStatus.REFUNDED])
PICK = st.integers(0, 1000)
CREATE = st.tuples(st.just("create"), st.integers(0, 2), MOMENTS, AMOUNTS, STATUSES)
OPERATIONS = st.one_of(
    CREATE,
    st.tuples(st.just("amount"), PICK, AMOUNTS),
    st.tuples(st.just("time"), PICK, MOMENTS),
    st.tuples(st.just("status"), PICK, STATUSES),
    st.tuples(st.just("customer"), PICK, st.integers(0, 2)),
    st.tuples(st.just("delete"), PICK),
    st.tuples(st.just("line"), PICK, st.sampled_from([None, 0, 1]), st.sampled_from(["1", "1.50", "0.50"]),
              st.sampled_from(["0.01", "0.03", "19.99"])),
    st.tuples(st.just("line_category"), PICK, st.sampled_from([None, 0, 1])),
    st.tuples(st.just("line_delete"), PICK),
)


@pytest.fixture
def shop(db):
    customers = [make_customer(name=n) for n in ("甲", "乙", "丙")]
    categories = [Category.objects.create(name=n) for n in ("服装", "鞋")]
    return customers, categories


def apply(op: tuple, customers, categories) -> None:
    kind = op[0]
    if kind == "create":
        order_at(customers[op[1]], op[2], op[3], status=op[4])
        return
    if kind.startswith("line_"):
        lines = list(OrderLine.objects.order_by("id"))
        if not lines:
            return
        line = lines[op[1] % len(lines)]
        if kind == "line_delete":
            line.delete()
        else:
            line.category = None if op[2] is None else categories[op[2]]
            line.save()
        return
    orders = list(Order.objects.order_by("id"))
    if not orders:
        return
    order = orders[op[1] % len(orders)]
    if kind == "amount":
        order.amount = Decimal(op[2])
    elif kind == "time":
        order.ordered_at = op[2]
    elif kind == "status":
        order.status = op[2]
    elif kind == "customer":
        order.customer = customers[op[2]]
    elif kind == "delete":
        order.delete()
        return
    elif kind == "line":
        category = None if op[2] is None else categories[op[2]]
        OrderLine.objects.create(order=order, product_name="商品", category=category,
                                 quantity=Decimal(op[3]), unit_price=Decimal(op[4]))
        return
    order.save()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(orders=st.lists(CREATE, min_size=1, max_size=12), operations=st.lists(OPERATIONS, min_size=1, max_size=20))
def test_any_sequence_of_order_changes_leaves_the_same_metrics_as_a_full_rebuild(shop, orders, operations):
    """Some orders first (with one create among nine kinds of change, most sequences had one or two orders and
    missed the day arithmetic), then any changes; days 0–6 so that orders share days."""
    customers, categories = shop
    Order.objects.all().delete()
    CustomerMetrics.objects.all().delete()
    CustomerCategorySpend.objects.all().delete()
    for op in [*orders, *operations]:
        apply(op, customers, categories)
    incremental = stored_state()
    pipeline.rebuild_metrics()
    assert stored_state() == incremental


# --- full rebuild and classification ---------------------------------------------------------------------

def test_a_full_rebuild_recreates_lost_metrics(db):
    wang = make_customer()
    order_at(wang, BASE, "1.10")
    order_at(wang, BASE + dt.timedelta(days=2, microseconds=5), "2.20")
    before = stored_state()
    CustomerMetrics.objects.all().delete()
    assert pipeline.rebuild_metrics() == 1
    assert stored_state() == before


def index_definitions(*tables: str) -> dict:
    """Each index of the tables by name: its table, columns and uniqueness, as the database describes them."""
    from django.db import connection

    with connection.cursor() as cursor:
        return {name: (table, info["columns"], info["unique"]) for table in tables
                for name, info in connection.introspection.get_constraints(cursor, table).items() if info["index"]}


def table_oids(*tables: str) -> list:
    from django.db import connection

    if connection.vendor != "postgresql":
        return []
    with connection.cursor() as cursor:
        cursor.execute("SELECT oid FROM pg_class WHERE relname = ANY(%s)", [list(tables)])
        return [row[0] for row in cursor.fetchall()]


def test_the_first_build_writes_the_metrics_in_bulk_and_builds_their_indexes_again(db, monkeypatch):
    from django.db import connection

    categories = [Category.objects.create(name=name) for name in ("茶叶", "茶具", "零食")]
    for i in range(12):
        customer = make_customer(name=f"客户{i}")
        for k in range(i % 4):
            order = order_at(customer, BASE + dt.timedelta(days=30 * k + i, hours=i), f"{10 * i + k}.50")
            OrderLine.objects.create(order=order, category=categories[(i + k) % 3], product_name="货",
                                     quantity=1, unit_price=order.amount)
    before = stored_state()
    tables = (CustomerMetrics._meta.db_table, CustomerCategorySpend._meta.db_table)
    indexes = index_definitions(*tables)
    CustomerMetrics.objects.all().delete()
    CustomerCategorySpend.objects.all().delete()
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size" if connection.vendor == "sqlite" else "SELECT 1")
        cache = cursor.fetchone()
    oids = table_oids(*tables)
    monkeypatch.setattr(pipeline, "WRITE_CHUNK", 4)   # 9 buyers count as a bulk write, in chunks of 4 rows
    assert pipeline.rebuild_metrics() == 9   # the buyers
    assert stored_state() == before
    assert index_definitions(*tables) == indexes and len(indexes) >= 4
    if connection.vendor == "postgresql":   # fresh copies in place of both tables: no dead rows left behind
        assert not set(table_oids(*tables)) & set(oids)
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA cache_size" if connection.vendor == "sqlite" else "SELECT 1")
        assert cursor.fetchone() == cache
    assert [m.customer_id for m in CustomerMetrics.objects.order_by("-monetary", "customer_id")] == sorted(
        before[0], key=lambda c: (-before[0][c][3], c))
    # the signals still write to them: a new spend row gets an id of the (new) identity
    newcomer = make_customer(name="新客户")
    order = order_at(newcomer, BASE, "8.00")
    OrderLine.objects.create(order=order, category=categories[0], product_name="货", quantity=1,
                             unit_price=order.amount)
    assert CustomerCategorySpend.objects.get(customer=newcomer).spend == Decimal("8.00")


@pytest.fixture
def four_customers(db):
    """Hand-computed: recency 5/50/200/–, F 4/1/2/0, M ¥1,000/¥50/¥300/–."""
    rich = make_customer(name="富")
    for days, amount in ((5, "400.00"), (20, "300.00"), (35, "200.00"), (50, "100.00")):
        make_order(rich, amount, days_ago=days)
    new = make_customer(name="新")
    make_order(new, "50.00", days_ago=50)
    old = make_customer(name="旧")
    make_order(old, "100.00", days_ago=200)
    make_order(old, "200.00", days_ago=260)
    make_order(old, "999.00", days_ago=1, status=OrderStatus.REFUNDED)
    never = make_customer(name="无")
    return rich, new, old, never


def test_classify_all_stores_classes_for_every_customer(four_customers):
    rich, new, old, never = four_customers
    result = pipeline.classify_all(today())
    segments = {s.customer_id: s for s in CustomerSegment.objects.all()}
    assert len(segments) == 4
    # means over buyers: recency (5 + 50 + 200) / 3 = 85, F 7 / 3 = 2.33, M ¥1,350 / 3 = ¥450
    assert segments[rich.id].rfm_class == "重要价值客户"
    assert segments[new.id].rfm_class == "一般发展客户"
    assert segments[old.id].rfm_class == "一般挽留客户"
    assert segments[never.id].lifecycle == "潜在客户" and segments[never.id].rfm_class == ""
    assert segments[rich.id].lifecycle == "活跃客户" and segments[old.id].lifecycle == "流失客户"
    assert (segments[rich.id].frequency, segments[rich.id].monetary, segments[rich.id].recency_days) == (
        4, Decimal("1000.00"), 5)
    assert segments[rich.id].avg_order_value == Decimal("250.00")
    assert segments[rich.id].abc_class == "A"
    assert SegmentSnapshot.objects.filter(as_of=today()).count() == 4
    assert result.run.counts["rfm_class"]["重要价值客户"] == [1, 1000.0]
    assert segments[rich.id].explanation.startswith(
        "最近一次消费 5 天前，优于平均的 85 天；共 4 笔订单，高于平均的 2.3 笔；"
        "累计消费 ¥1,000，高于平均的 ¥450 → 重要价值客户")


def test_a_deleted_customer_takes_its_snapshot_lines_along(four_customers):
    """The snapshot has no foreign-key constraint in the database (pipeline writes 1,000,000 lines at a first build):
    Django's CASCADE is what removes a deleted customer's lines, on the page's and the API's delete alike."""
    rich, new, _old, _never = four_customers
    pipeline.classify_all(today() - dt.timedelta(days=1))
    pipeline.classify_all(today())
    assert SegmentSnapshot.objects.filter(customer_id=new.pk).count() >= 1
    new.delete()
    assert not SegmentSnapshot.objects.filter(customer_id=new.pk).exists()
    assert SegmentSnapshot.objects.filter(customer_id=rich.pk).count() >= 1


def test_classification_uses_the_stored_thresholds(four_customers):
    _rich, new, _old, _never = four_customers
    SegmentSettings.store(Thresholds(rfm_reference="fixed", rfm_r_days=30, rfm_f_orders=1, rfm_m_yuan=50))
    pipeline.classify_all(today())
    assert CustomerSegment.objects.get(customer=new).rfm_class == "重要保持客户"  # 50 days > 30; F 1 ≥ 1; ¥50 ≥ ¥50
    assert SegmentRun.objects.get(as_of=today()).thresholds["rfm_r_days"] == 30


def test_a_past_date_counts_only_the_orders_up_to_it(four_customers):
    rich, _new, old, _never = four_customers
    pipeline.classify_all(today() - dt.timedelta(days=30))
    seg = CustomerSegment.objects.get(customer=rich)
    assert (seg.frequency, seg.monetary, seg.recency_days) == (2, Decimal("300.00"), 5)
    assert CustomerSegment.objects.get(customer=old).recency_days == 170


def test_a_window_counts_f_and_m_over_the_last_months_only(four_customers):
    _rich, _new, old, _never = four_customers
    pipeline.classify_all(today(), Thresholds(window_months=7))  # ~213 days: 200 in, 260 out
    seg = CustomerSegment.objects.get(customer=old)
    assert (seg.frequency, seg.monetary, seg.lifecycle) == (1, Decimal("100.00"), "流失客户")


def test_a_rebuild_classifies_a_window_and_a_past_day_from_their_lines_as_a_run_without_it(db):
    """A rebuild lets its lines go once it has the metrics; a classification right after it that needs them again (an
    F/M window, a past day) reads them: the class rows of a run that reads the orders itself."""
    tea, teaware = Category.objects.create(name="茶叶"), Category.objects.create(name="茶具")
    for i in range(6):
        customer = make_customer(name=f"茶客{i}")
        for days, category, amount in ((10 + i, tea, "30.00"), (40 + i, tea, "20.00"), (70, tea, "25.00"),
                                       (200 + i, teaware, "500.00"), (260, teaware, "400.00")):
            order = make_order(customer, amount, days_ago=days)
            OrderLine.objects.create(order=order, category=category, product_name="货", quantity=1,
                                     unit_price=order.amount)
    SegmentSettings.store(Thresholds(window_months=4))
    columns = ("customer_id", "frequency", "monetary", "rfm_class", "lifecycle", "category_loyalty")
    for day in (today(), today() - dt.timedelta(days=30)):
        pipeline.refresh(day, full=True)
        after_rebuild = sorted(CustomerSegment.objects.values_list(*columns))
        pipeline.classify_all(day)
        assert after_rebuild == sorted(CustomerSegment.objects.values_list(*columns))
        # within the four months only tea was bought (teaware, ¥900 of ¥975, is older)
        assert {row[-1] for row in after_rebuild} == {"茶叶忠实客户"}, after_rebuild


def test_snapshots_show_who_moved_where(four_customers):
    _rich, _new, _old, never = four_customers
    day1 = today() - dt.timedelta(days=1)
    pipeline.classify_all(day1)
    make_order(never, "5000.00", days_ago=0)
    pipeline.classify_all(today())
    matrix = pipeline.migration_matrix(day1, today(), "lifecycle")
    assert matrix["潜在客户"] == {"新客户": 1}
    assert matrix["活跃客户"] == {"活跃客户": 2}  # 富 and 新 (50 days since the first order)
    moved = pipeline.movers(day1, today(), "潜在客户", "新客户", "lifecycle")
    assert list(moved) == [never]
    assert pipeline.snapshot_dates() == [day1, today()]
    rfm = pipeline.migration_matrix(day1, today())
    assert sum(sum(row.values()) for row in rfm.values()) == 4
    assert rfm["（无）"] == {"重要发展客户": 1}  # recent, ¥5,000, but 1 order is below the mean of 2


def test_reclassifying_a_day_replaces_its_snapshot(four_customers):
    pipeline.classify_all(today())
    pipeline.classify_all(today())
    assert SegmentSnapshot.objects.count() == 4 and SegmentRun.objects.count() == 1


def test_the_command_prints_the_class_distribution(four_customers):
    out, err = StringIO(), StringIO()
    call_command("segment", "--full", f"--as-of={today():%Y-%m-%d}", stdout=out, stderr=err)
    text = out.getvalue()
    assert "【RFM分层】" in text and "【生命周期】" in text
    header = next(line for line in text.splitlines() if line.startswith("分层"))
    assert all(h in header for h in ("客户数", "占比", "消费金额", "金额占比"))
    assert "重要价值客户" in text and "¥1,000.00" in text and "潜在客户" in text
    assert "BG/NBD: 未拟合 not fitted — 客户少于 50 位" in text  # four customers: too few for the models
    assert "分层完成" in text


def test_the_command_rejects_a_bad_date(db):
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("segment", "--as-of=2024/01/01", stdout=StringIO(), stderr=StringIO())


def test_the_help_documents_a_cron_line():
    from kehu.segments.management.commands.segment import Command

    assert "cron" in Command.help and "kehu segment" in Command.help


def test_orders_at_local_midnight_count_on_the_right_day(db):
    wang = make_customer()
    local_midnight = timezone.make_aware(dt.datetime.combine(today(), dt.time.min))
    order_at(wang, local_midnight)
    pipeline.classify_all(today())
    assert CustomerSegment.objects.get(customer=wang).recency_days == 0


def test_refresh_customers_repairs_metrics_after_a_bulk_update(db):
    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    order_at(wang, BASE, "10.00")
    order_at(li, BASE + dt.timedelta(days=1), "20.00")
    Order.objects.filter(customer=li).update(customer=wang)  # bypasses the signals, as a merge does
    pipeline.refresh_customers([wang.pk, li.pk])
    m = CustomerMetrics.objects.get(customer=wang)
    assert (m.frequency, m.monetary, m.interval_sq_sum) == (2, Decimal("30.00"), 86400 ** 2)
    assert not CustomerMetrics.objects.filter(customer=li).exists()
    incremental = stored_state()
    pipeline.rebuild_metrics()
    assert stored_state() == incremental


def test_a_full_rebuild_corrects_drift_and_removes_stale_rows(db):
    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    shoes = Category.objects.create(name="鞋")
    order = order_at(wang, BASE, "10.00")
    OrderLine.objects.create(order=order, product_name="鞋", category=shoes, quantity=1, unit_price=Decimal("10"))
    order_at(wang, BASE + dt.timedelta(days=1), "5.00")
    right = stored_state()
    CustomerMetrics.objects.filter(customer=wang).update(monetary=Decimal("1.00"), interval_sq_sum=7)
    CustomerMetrics.objects.create(customer=li, frequency=3, monetary=Decimal("9.00"))
    CustomerCategorySpend.objects.create(customer=li, category=shoes, spend=Decimal("1.00"), lines=1)
    pipeline.rebuild_metrics()
    assert stored_state() == right


def test_a_full_rebuild_compares_the_category_spend_range_by_range_and_rewrites_only_what_differs(db, monkeypatch):
    """The stored category spend is compared a range of customers at a time (here two): drift in every range, and
    stale rows of customers below the first range and above the last, are put right; rows that hold are kept."""
    shoes, tea = Category.objects.create(name="鞋"), Category.objects.create(name="茶")
    customers = [make_customer(name=f"客户{i}") for i in range(9)]
    for i, customer in enumerate(customers[1:-1], start=1):
        for k in range(1 + i % 3):
            order = order_at(customer, BASE + dt.timedelta(days=10 * k + i), f"{10 + i}.00")
            OrderLine.objects.create(order=order, product_name="货", category=(shoes, tea)[(i + k) % 2], quantity=1,
                                     unit_price=order.amount)
    right = stored_state()
    spend = CustomerCategorySpend.objects
    spend.filter(customer=customers[2]).update(spend=Decimal("0.01"))
    spend.filter(customer=customers[5], category=tea).update(lines=9)
    spend.filter(customer=customers[7]).delete()
    for stale in (customers[0], customers[-1]):   # no lines of theirs: below the first range, above the last
        spend.create(customer=stale, category=shoes, spend=Decimal("3.00"), lines=1)
    kept = dict(spend.exclude(customer__in=[customers[i] for i in (0, 2, 5, 7, 8)]).values_list("pk", "customer_id"))
    monkeypatch.setattr(pipeline, "SPEND_RANGE_CUSTOMERS", 2)
    pipeline.rebuild_metrics()
    assert stored_state() == right
    assert dict(spend.filter(pk__in=kept).values_list("pk", "customer_id")) == kept and len(kept) >= 4


def test_deleting_rows_by_key_takes_exactly_the_rows_of_the_keys(db):
    """The changed rows' DELETE (one statement on PostgreSQL, the keys as arrays): a two-column key and an extra
    condition; rows that share one key column with a deleted row, or fail the condition, stay."""
    import polars as pl

    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    shoes, tea = Category.objects.create(name="鞋"), Category.objects.create(name="茶")
    for customer, category in itertools.product((wang, li), (shoes, tea)):
        CustomerCategorySpend.objects.create(customer=customer, category=category, spend=Decimal("1.00"), lines=1)
    keys = pl.DataFrame({"customer_id": [wang.pk, li.pk], "category_id": [shoes.pk, tea.pk]})
    pipeline._delete_rows(CustomerCategorySpend._meta.db_table, keys)
    assert set(CustomerCategorySpend.objects.values_list("customer_id", "category_id")) == {
        (wang.pk, tea.pk), (li.pk, shoes.pk)}

    days = [dt.date(2026, 11, 30), dt.date(2026, 12, 1)]
    for day, customer in itertools.product(days, (wang, li)):
        SegmentSnapshot.objects.create(as_of=day, customer=customer)
    from django.db import connection

    pipeline._delete_rows(SegmentSnapshot._meta.db_table, pl.DataFrame({"customer_id": [wang.pk]}), " AND as_of = %s",
                          [connection.ops.adapt_datefield_value(days[1])])
    assert sorted(SegmentSnapshot.objects.values_list("as_of", "customer_id")) == sorted(
        [(days[0], wang.pk), (days[0], li.pk), (days[1], li.pk)])
    nobody = pl.DataFrame({"customer_id": []}, schema={"customer_id": pl.Int64})
    pipeline._delete_rows(SegmentSnapshot._meta.db_table, nobody)
    assert SegmentSnapshot.objects.count() == 3


def test_rows_inserted_in_more_than_one_chunk_are_each_written_once(db, monkeypatch):
    """A bulk insert goes in chunks (COPY on PostgreSQL, executemany on SQLite): 11 rows in chunks of 3, the last
    one short, give exactly the 11 rows with their values; no rows, nothing."""
    import polars as pl

    monkeypatch.setattr(pipeline, "WRITE_CHUNK", 3)
    customers = [make_customer(name=f"客户{i}") for i in range(4)]
    categories = [Category.objects.create(name=name) for name in ("鞋", "茶", "书")]
    pairs = list(itertools.product(customers, categories))[:11]
    expected = {(c.pk, k.pk): (Decimal(f"{i}.0{i % 10}"), i + 1) for i, (c, k) in enumerate(pairs)}
    rows = pl.DataFrame({"customer_id": [c for c, _ in expected], "category_id": [k for _, k in expected],
                         "spend": [str(spend) for spend, _ in expected.values()],
                         "lines": [lines for _, lines in expected.values()]})
    columns = ["customer_id", "category_id", "spend", "lines"]
    pipeline._insert(CustomerCategorySpend._meta.db_table, columns, rows.clear().lazy())
    assert not CustomerCategorySpend.objects.exists()
    pipeline._insert(CustomerCategorySpend._meta.db_table, columns, rows.lazy())
    assert {(s.customer_id, s.category_id): (s.spend, s.lines) for s in CustomerCategorySpend.objects.all()} == expected


def test_deleting_all_orders_at_once_leaves_no_metrics(db):
    wang, li = make_customer(name="王芳"), make_customer(name="李娜")
    for minutes in (0, 5, 10):
        order_at(wang, BASE + dt.timedelta(minutes=minutes))  # three orders on one day
        order_at(li, BASE + dt.timedelta(days=minutes))
    Order.objects.filter(customer=wang).delete()  # one DELETE, then a signal per order
    assert not CustomerMetrics.objects.filter(customer=wang).exists()
    li.delete()  # the orders go with their customer
    assert not CustomerMetrics.objects.exists()


def table_shape(table: str) -> tuple[int, list, list]:
    """PostgreSQL: the table's oid, its indexes and its constraints (names and definitions)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT %s::regclass::oid", [table])
        oid = cursor.fetchone()[0]
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table])
        indexes = cursor.fetchall()
        cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
                       " ORDER BY 1", [table])
        return oid, indexes, cursor.fetchall()


def test_a_new_day_on_postgresql_puts_a_fresh_class_table_in_place(four_customers):
    from django.db import IntegrityError, connection, transaction

    if connection.vendor != "postgresql":
        pytest.skip("the fresh copy is PostgreSQL's (SQLite rebuilds its indexes in place)")
    table = CustomerSegment._meta.db_table
    pipeline.classify_all(today() - dt.timedelta(days=1))
    oid, indexes, constraints = table_shape(table)
    before = {s.customer_id: s.rfm_class for s in CustomerSegment.objects.all()}
    pipeline.classify_all(today())   # a new day, the models fitted again (four customers): every row written
    new_oid, new_indexes, new_constraints = table_shape(table)
    assert new_oid != oid   # not rows deleted and copied in: no dead rows left behind
    assert (new_indexes, new_constraints) == (indexes, constraints) and len(indexes) == 15
    assert "WHERE (fingerprint IS NULL)" in dict(indexes)["segment_changed_since_run_idx"]   # partial, still
    assert {s.customer_id: s.rfm_class for s in CustomerSegment.objects.all()} == before
    assert CustomerSegment.objects.filter(changed_on=today()).count() == 4
    # no class changed: the snapshot needs no line of the new day, and still says everyone's classes on it
    assert SegmentSnapshot.objects.filter(as_of=today()).count() == 0
    assert SegmentSnapshot.objects.on(today()).count() == 4
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s)", [f"{table}__new"])
        assert cursor.fetchone()[0] is None
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")   # the foreign key to the customer holds on the new table
        cursor.execute(f"INSERT INTO {table} (customer_id, changed_on, frequency, monetary, spend_recent,"
                       " spend_previous, trend, rfm_class, rf_segment, abc_class, frequency_tier, value_tier,"
                       " lifecycle, overdue, category_loyalty)"
                       " VALUES (999999, %s, 0, 0, 0, 0, '', '', '', '', '', '', '', false, '')",
                       [today()])
