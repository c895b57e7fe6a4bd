"""A real import commits in short transactions; its batch stays one unit that a revert undoes, even when the
run stopped midway."""

import datetime
from decimal import Decimal

import pytest
from django.utils import timezone

from kehu.customers.models import Customer
from kehu.exchange import importer
from kehu.exchange.importer import import_file, revert_batch
from kehu.exchange.models import STALE_AFTER, ImportBatch
from kehu.sales.models import Order
from kehu.segments.models import CustomerMetrics
from tests.conftest import make_order

from .helpers import write_xlsx

pytestmark = pytest.mark.django_db

NEW_CUSTOMERS = 1200  # the customer sheet is read in chunks of 500: reports after 500, 1000 and 1200 rows


@pytest.fixture
def commit_every_chunk(monkeypatch):
    monkeypatch.setattr(importer, "CHUNK_SECONDS", 0)
    monkeypatch.setattr(importer, "CUSTOMER_CHUNK", 500)
    monkeypatch.setattr(importer, "COMMIT_PAUSE_SECONDS", 0)


def workbook(tmp_path, zhang):
    customers = [["客户编号", "姓名", "手机号"]] + [[f"C{i:05d}", f"分批客户{i}", f"136{i:08d}"]
                                                    for i in range(NEW_CUSTOMERS)]
    orders = [["客户编号", "消费日期", "消费金额"], [zhang.code, "2024-03-01", "70"]] + [
        [f"C{i:05d}", "2024-03-02", "10"] for i in range(0, NEW_CUSTOMERS, 3)]
    return write_xlsx(tmp_path / "分批.xlsx", {"客户信息": customers, "消费记录": orders})


class Stop(KeyboardInterrupt):
    """Ctrl-C in the middle of `kehu import`."""


def stopping_after(reports: int):
    seen = []

    def progress(rows: int) -> None:
        seen.append(rows)
        if len(seen) == reports:
            raise Stop

    return progress


@pytest.mark.parametrize(("reports", "customers_kept", "orders_kept"), [(2, 1000, 0), (4, NEW_CUSTOMERS, 401)])
def test_it_keeps_what_a_stopped_import_committed_as_an_incomplete_batch_that_reverts_whole(
        tmp_path, alice, zhang, commit_every_chunk, reports, customers_kept, orders_kept):
    make_order(zhang, "100.00", days_ago=30)
    with pytest.raises(Stop) as stopped:
        import_file(workbook(tmp_path, zhang), user=alice, progress=stopping_after(reports))
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.INCOMPLETE and batch.can_revert
    assert f"kehu import --revert {batch.pk}" in " ".join(stopped.value.__notes__)
    assert Customer.objects.filter(name__startswith="分批客户").count() == customers_kept
    assert Order.objects.count() - 1 == orders_kept  # zhang's own order was there before
    if orders_kept:  # the committed orders count in their customers' metrics
        assert CustomerMetrics.objects.get(customer=zhang).monetary == Decimal("170.00")

    revert_batch(batch, user=alice)
    assert not Customer.objects.filter(name__startswith="分批客户").exists()
    assert list(Order.objects.values_list("customer_id", "amount")) == [(zhang.pk, Decimal("100.00"))]
    metrics = CustomerMetrics.objects.get(customer=zhang)
    assert (metrics.frequency, metrics.monetary) == (1, Decimal("100.00"))
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.REVERTED


def test_a_finished_import_in_many_commits_reverts_as_one_batch(tmp_path, alice, zhang, commit_every_chunk):
    result = import_file(workbook(tmp_path, zhang), user=alice)
    assert result.counts["customers"].new == NEW_CUSTOMERS and result.counts["purchases"].new == 401
    assert result.batch.changes.filter(model="customers.Customer").count() >= 3  # one record per commit
    assert CustomerMetrics.objects.get(customer=Customer.objects.get(code="C00003")).frequency == 1
    revert_batch(result.batch)
    assert not Customer.objects.filter(name__startswith="分批客户").exists() and not Order.objects.exists()


def test_a_running_import_cannot_be_reverted_until_it_stops_committing(alice):
    batch = ImportBatch.objects.create(file_name="大文件.xlsx", user=alice, heartbeat_at=timezone.now())
    assert not batch.can_revert and batch.status_label == "进行中"
    with pytest.raises(ValueError, match="进行中"):
        revert_batch(batch)
    # Its process died (killed, power cut): no commit for longer than STALE_AFTER.
    batch.heartbeat_at = timezone.now() - STALE_AFTER - datetime.timedelta(minutes=1)
    batch.save()
    assert batch.can_revert and batch.status_label == "未完成"
    revert_batch(batch)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.REVERTED
