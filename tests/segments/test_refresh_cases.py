"""Classification always runs — on an empty store, without orders, when the first customer never bought, twice
for one day — and gives the classes of a full rebuild; one run at a time (the lease)."""

import dataclasses
import datetime as dt
from decimal import Decimal
from unittest import mock

import pytest
from django.utils import timezone

from kehu.lib.dates import today
from kehu.sales.models import Category, Order, OrderLine, OrderStatus
from kehu.segments import lease, pipeline
from kehu.segments.models import CustomerSegment, RunLease, SegmentRun, SegmentSettings, SegmentSnapshot
from tests.conftest import make_customer

CLASS_COLUMNS = ("rfm_class", "rf_segment", "abc_class", "frequency_tier", "value_tier", "lifecycle", "trend",
                 "frequency", "monetary", "last_order_day")


def classes() -> dict[int, tuple]:
    return {row[0]: row[1:] for row in CustomerSegment.objects.values_list("customer_id", *CLASS_COLUMNS)}


def assert_same_as_full_rebuild(as_of=None):
    quick = pipeline.refresh(as_of)
    got = classes()
    full = pipeline.refresh(as_of, full=True)
    assert got == classes()
    assert quick.run.customers == full.run.customers == len(got)
    return got


def buy(customer, days_ago: int, amount: str, category=None, status=OrderStatus.COMPLETED) -> Order:
    order = Order.objects.create(customer=customer, amount=Decimal(amount), status=status,
                                 ordered_at=timezone.now() - dt.timedelta(days=days_ago, minutes=7))
    if category is not None:
        OrderLine.objects.create(order=order, product_name="茶", category=category, quantity=Decimal("1"),
                                 unit_price=Decimal(amount))
    return order


def test_it_classifies_an_empty_store(db):
    assert assert_same_as_full_rebuild() == {}
    run = SegmentRun.objects.get(as_of=today())
    assert run.customers == 0
    assert run.value_model["purchases"]["fitted"] is False


def test_it_classifies_customers_who_never_bought(db):
    ids = [make_customer(name=f"客户{i}").pk for i in range(3)]
    got = assert_same_as_full_rebuild()
    assert sorted(got) == ids
    assert {row[CLASS_COLUMNS.index("frequency")] for row in got.values()} == {0}
    assert SegmentSnapshot.objects.filter(as_of=today()).count() == 3


def test_it_classifies_when_the_first_customer_never_bought(db):
    tea = Category.objects.create(name="茶")
    first = make_customer(name="从未购买")  # the first row read: every metric of it is null
    buyers = [make_customer(name=f"买家{i}") for i in range(4)]
    for i, customer in enumerate(buyers):
        buy(customer, 10 + i * 40, f"{100 + i * 37}.50", tea if i % 2 else None)
        buy(customer, 3 + i, "19.99")
    buy(buyers[0], 1, "5.00", status=OrderStatus.REFUNDED)
    got = assert_same_as_full_rebuild()
    assert got[first.pk][CLASS_COLUMNS.index("frequency")] == 0
    assert got[first.pk][CLASS_COLUMNS.index("rfm_class")] == ""
    assert got[buyers[0].pk][CLASS_COLUMNS.index("frequency")] == 2
    assert got[buyers[0].pk][CLASS_COLUMNS.index("monetary")] == Decimal("120.49")


def test_it_classifies_one_day_twice_and_a_past_day(db):
    customers = [make_customer(name=f"客户{i}") for i in range(3)]
    buy(customers[0], 400, "300.00")
    buy(customers[1], 2, "80.00")
    first = pipeline.refresh(today())
    second = pipeline.refresh(today())
    assert first.run.pk == second.run.pk
    assert SegmentRun.objects.filter(as_of=today()).count() == 1
    assert SegmentSnapshot.objects.filter(as_of=today()).count() == 3
    past = today() - dt.timedelta(days=100)
    got = assert_same_as_full_rebuild(past)
    assert got[customers[1].pk][CLASS_COLUMNS.index("frequency")] == 0  # bought after that day


def test_a_second_run_says_that_one_is_running_in_chinese_and_english(db):
    holder = RunLease.objects.create(name=pipeline.JOB, owner="elsewhere:1:x", host="another-server", pid=4321,
                                     started_at=timezone.now(), expires_at=timezone.now() + dt.timedelta(minutes=5))
    with pytest.raises(lease.JobRunning) as raised:
        pipeline.refresh(wait=0.2)
    text = str(raised.value)
    assert "另一次客户分层正在运行" in text and "Another classification is running" in text
    assert "another-server" in text and "4321" in text
    assert not SegmentRun.objects.exists()
    holder.refresh_from_db()
    assert holder.owner == "elsewhere:1:x"


def test_an_expired_lease_or_a_vanished_process_does_not_block_a_run(db):
    make_customer(name="王芳")
    RunLease.objects.create(name=pipeline.JOB, owner="crashed:1:x", host="another-server", pid=1,
                            started_at=timezone.now() - dt.timedelta(hours=1),
                            expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert pipeline.refresh().run.customers == 1
    RunLease.objects.filter(name=pipeline.JOB).update(
        owner="gone:1:x", host=lease.HOST, pid=2 ** 22 + 17, expires_at=timezone.now() + dt.timedelta(minutes=5))
    assert pipeline.refresh().run.customers == 1
    freed = RunLease.objects.get(name=pipeline.JOB)
    assert (freed.owner, freed.expires_at) == ("", None)  # given back at the end


def test_a_run_waits_for_the_lease_to_be_given_back(db, monkeypatch):
    RunLease.objects.create(name=pipeline.JOB, owner="other:1:x", host="another-server", pid=7,
                            started_at=timezone.now(), expires_at=timezone.now() + dt.timedelta(minutes=5))
    polls = []

    def sleep(seconds):  # the other run finishes while this one waits
        polls.append(seconds)
        RunLease.objects.filter(name=pipeline.JOB).update(owner="", expires_at=None)

    monkeypatch.setattr(lease.time, "sleep", sleep)
    assert pipeline.refresh(wait=30).run.customers == 0
    assert len(polls) == 1


@pytest.mark.django_db(transaction=True)   # real commits: the upkeep of each order runs, as in a server
def test_a_same_day_rerun_keeps_the_run_until_something_it_was_computed_from_changes():
    tea = Category.objects.create(name="茶")
    customers = [make_customer(name=f"客户{i}") for i in range(5)]
    for i, customer in enumerate(customers[:4]):
        buy(customer, 20 + 60 * i, f"{90 + 41 * i}.00", tea)
        buy(customer, 3 + i, "25.00")
    first = pipeline.refresh(today())
    assert not first.unchanged
    again = pipeline.refresh(today())
    assert again.unchanged and again.run.pk == first.run.pk and again.run.finished_at == first.run.finished_at

    def kept_after(change) -> bool:
        """Whether a same-day run after `change` kept the run; after it, a second one does, and what it keeps is
        what a run with the metrics recomputed from every order gives."""
        change()
        result = pipeline.refresh(today())
        assert pipeline.refresh(today()).unchanged
        kept = classes()
        pipeline.refresh(today(), full=True)
        assert classes() == kept
        return result.unchanged

    assert not kept_after(lambda: buy(customers[4], 1, "500.00"))              # a first order
    assert not kept_after(lambda: buy(customers[0], 0, "12.00", tea))          # another one
    order = Order.objects.filter(customer=customers[1]).first()
    assert not kept_after(lambda: Order.objects.filter(pk=order.pk).first().delete())
    assert not kept_after(lambda: make_customer(name="新客户"))                # no class row yet
    assert not kept_after(lambda: customers[2].delete())                      # its row goes with it
    settings = SegmentSettings.load()
    assert not kept_after(lambda: SegmentSettings.store(
        dataclasses.replace(settings, trend_months=settings.trend_months + 1)))
    # an upkeep that failed leaves the row without a fingerprint: the next run, of the same day too, classifies again
    with mock.patch("kehu.segments.upkeep.reclassify", side_effect=RuntimeError("boom")):
        assert not kept_after(lambda: buy(customers[3], 0, "99.00"))
    assert pipeline.refresh(today()).unchanged
    assert not pipeline.refresh(today() + dt.timedelta(days=1)).unchanged   # a new day
    assert not pipeline.refresh(today() + dt.timedelta(days=1), full=True).unchanged   # --full
