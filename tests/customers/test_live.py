"""Live collaboration: a page learns that someone else saved its customer; concurrent saves never lose updates."""

import threading
import time

import pytest
from django.db import OperationalError, connection, connections
from django.test import Client

from kehu.customers.forms import CustomerForm
from kehu.customers.models import Customer, CustomField
from kehu.customers.services import EditConflict, save_customer_form
from tests.api.conftest import token_client

WRITERS = 6


def edit_as(user, customer: Customer, **changes) -> Customer:
    form = CustomerForm(instance=customer, user=user)
    data = {name: form.get_initial_for_field(field, name) for name, field in form.fields.items()}
    data.update(changes)
    form = CustomerForm({k: "" if v is None else v for k, v in data.items()}, instance=customer, user=user)
    assert form.is_valid(), form.errors
    return save_customer_form(form, expected_version=customer.version)


def test_it_answers_nothing_while_the_page_is_current(client, mary, zhang):
    client.force_login(mary)
    response = client.get(f"/customers/{zhang.code}/version/?v={zhang.version}")
    assert response.status_code == 200
    assert "已被" not in response.content.decode()


def test_it_names_who_changed_the_customer_since_the_page_was_rendered(client, mary, alice, zhang):
    seen = zhang.version
    edit_as(alice, zhang, notes="改了备注")
    client.force_login(mary)
    body = client.get(f"/customers/{zhang.code}/version/?v={seen}").content.decode()
    assert "该客户已被 王丽 修改" in body and "刷新查看" in body
    edit_body = client.get(f"/customers/{zhang.code}/version/?v={seen}&mode=edit").content.decode()
    assert f"/customers/{zhang.code}/edit/" in edit_body


def test_it_does_not_warn_about_my_own_save(client, alice, zhang):
    seen = zhang.version
    edit_as(alice, zhang, notes="我自己改的")
    client.force_login(alice)
    assert "已被" not in client.get(f"/customers/{zhang.code}/version/?v={seen}").content.decode()


def test_it_gives_the_version_as_json(client, mary, alice, zhang):
    edit_as(alice, zhang, notes="x")
    client.force_login(mary)
    data = client.get(f"/customers/{zhang.code}/version/?format=json").json()
    assert data["version"] == 2 and data["changed_by"] == "王丽"


def test_it_hides_another_reps_customer(client, sam, li):
    client.force_login(sam)
    assert client.get(f"/customers/{li.code}/version/?v=1").status_code == 404


def test_the_customer_page_and_the_edit_form_poll_every_ten_seconds(client, mary, zhang):
    client.force_login(mary)
    for url in (f"/customers/{zhang.code}/", f"/customers/{zhang.code}/edit/"):
        body = client.get(url).content.decode()
        assert f"/customers/{zhang.code}/version/?v={zhang.version}" in body
        assert 'hx-trigger="every 10s"' in body


def _retrying_table_locks(work, i: int):
    """The test database on SQLite is in memory with a shared cache, where a writer meeting another's lock gets
    "database table is locked" at once instead of waiting (busy_timeout covers the WAL file kehu really uses).
    A writer that meets it simply tries again, as a person would: that is not a lost update, only a retry."""
    while True:
        try:
            return work(i)
        except OperationalError as exc:
            if "locked" not in str(exc):
                raise
            time.sleep(0.01)


def _in_threads(work, count: int) -> list:
    """Run work(i) in `count` threads started together; each thread closes its own connection."""
    barrier, results = threading.Barrier(count), [None] * count

    def run(i: int) -> None:
        try:
            barrier.wait()
            results[i] = _retrying_table_locks(work, i)
        except Exception as exc:  # the test inspects what each writer got
            results[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_from_one_version_exactly_one_wins(alice):
    customer = Customer.objects.create(name="并发客户", notes="start")

    def save(i: int):
        stale = Customer.objects.get(pk=customer.pk)  # every writer starts from version 1
        stale.version = 1
        return edit_as(alice, stale, notes=f"writer {i}")

    results = _in_threads(save, WRITERS)
    winners = [r for r in results if isinstance(r, Customer)]
    conflicts = [r for r in results if isinstance(r, EditConflict)]
    assert len(winners) == 1, results
    assert len(conflicts) == WRITERS - 1, results
    final = Customer.objects.get(pk=customer.pk)
    assert final.version == 2
    assert final.notes == winners[0].notes


@pytest.mark.django_db(transaction=True)
def test_concurrent_api_increments_lose_nothing(alice):
    CustomField.objects.create(key="visits", label="到店次数", type=CustomField.Type.NUMBER)
    customer = Customer.objects.create(name="计数客户", extra={"visits": "0"})
    rounds, writers = 2, 3

    def increment(i: int) -> int:
        client: Client = token_client(alice)
        conflicts = 0
        for _ in range(rounds):
            while True:
                try:
                    got = client.get(f"/api/customers/{customer.code}").json()
                    visits = int(float(got["extra"].get("visits", 0))) + 1
                    response = client.patch(f"/api/customers/{customer.code}",
                                            {"version": got["version"], "extra": {"visits": visits}},
                                            content_type="application/json")
                except OperationalError as exc:  # SQLite in memory only, see _retrying_table_locks
                    assert "locked" in str(exc)
                    continue
                if response.status_code == 200:
                    break
                assert response.status_code == 409, response.content
                conflicts += 1
        return conflicts

    results = _in_threads(increment, writers)
    assert all(isinstance(r, int) for r in results), results
    final = Customer.objects.get(pk=customer.pk)
    # Every saved version carries exactly one increment: none was lost. (On SQLite in memory a request that
    # committed and then met a table lock is retried by the client, so there may be more saves than rounds.)
    assert int(float(final.extra["visits"])) == final.version - 1
    assert final.version - 1 >= writers * rounds
    if connection.vendor == "postgresql":
        assert final.version - 1 == writers * rounds
