"""Follow-ups of a write (lib/commits.py): inside a unit of work they run in its transaction, just before it commits,
once per key; one that fails is rolled back alone and the write stands; outside a unit of work they run at the
commit. Real commits (transaction=True), as a server makes them."""

import logging

import pytest
from django.db import connection, transaction

from kehu.lib.commits import before_commit, unit_of_work
from kehu.lib.db import run_prepared
from kehu.sales.models import Category


def names() -> set[str]:
    return set(Category.objects.values_list("name", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_runs_once_inside_the_transaction_before_it_ends():
    ran = []
    with unit_of_work():
        Category.objects.create(name="茶叶")
        for _ in range(3):
            before_commit(("k", 1), lambda: ran.append(("k1", connection.in_atomic_block, names())))
        before_commit(("k", 2), lambda: ran.append(("k2", connection.in_atomic_block, names())))
        assert ran == []
    assert ran == [("k1", True, {"茶叶"}), ("k2", True, {"茶叶"})]
    assert not connection.in_atomic_block


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_may_ask_for_another_and_nested_units_run_them_at_the_outer_end():
    ran = []
    with unit_of_work():
        with unit_of_work():
            before_commit("first", lambda: (ran.append("first"), before_commit("second", lambda: ran.append("second"))))
        assert ran == []
    assert ran == ["first", "second"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_follow_up_is_rolled_back_alone_and_the_write_stands(caplog):
    def fails():
        Category.objects.create(name="半途")
        raise RuntimeError("boom")

    with caplog.at_level(logging.ERROR, logger="kehu.lib.commits"), unit_of_work():
        Category.objects.create(name="茶叶")
        before_commit("fails", fails)
    assert names() == {"茶叶"}
    assert "boom" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_write_that_fails_runs_no_follow_up():
    ran = []
    with pytest.raises(ValueError), unit_of_work():
        Category.objects.create(name="茶叶")
        before_commit("k", lambda: ran.append("k"))
        raise ValueError("the write fails")
    assert (ran, names()) == ([], set())
    with unit_of_work():   # and the next unit of work starts clean
        before_commit("again", lambda: ran.append("again"))
    assert ran == ["again"]


@pytest.mark.django_db(transaction=True)
def test_outside_a_unit_of_work_a_follow_up_runs_once_after_the_commit():
    ran = []
    with transaction.atomic():
        Category.objects.create(name="茶叶")
        before_commit("k", lambda: ran.append(connection.in_atomic_block))
        before_commit("k", lambda: ran.append("twice"))
        assert ran == []
    assert ran == [False]
    before_commit("k", lambda: ran.append("at once"))   # no transaction: now
    assert ran == [False, "at once"]


@pytest.mark.django_db(transaction=True)
def test_a_failing_follow_up_leaves_its_mark_inside_a_unit_of_work_and_after_a_commit(caplog):
    def fails():
        Category.objects.create(name="半途")
        raise RuntimeError("boom")

    def mark(name):
        return lambda: Category.objects.create(name=name)

    with caplog.at_level(logging.ERROR), unit_of_work():
        Category.objects.create(name="茶叶")
        before_commit("fails", fails, mark("欠一次"))
    assert names() == {"茶叶", "欠一次"}   # the follow-up's own write rolled back, its mark kept, the write stands
    with caplog.at_level(logging.ERROR), transaction.atomic():
        Category.objects.create(name="咖啡")
        before_commit("fails", fails, mark("又欠一次"))
    assert names() == {"茶叶", "欠一次", "咖啡", "半途", "又欠一次"}  # after the commit: autocommit, the mark too
    assert [str(r.exc_info[1]) for r in caplog.records if r.exc_info] == ["boom", "boom"]   # both logged


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_that_fails_in_the_database_is_rolled_back_alone_and_the_transaction_goes_on(caplog):
    """A statement that fails aborts a PostgreSQL transaction, here inside an atomic block without a savepoint of its
    own (as the upkeep writes several rows): the follow-up's savepoint undoes it, and the write and what comes after
    it in the same transaction are committed."""
    def duplicates():
        Category.objects.create(name="半途")
        with transaction.atomic(savepoint=False):
            Category.objects.create(name="茶叶")   # the name is unique: IntegrityError

    with caplog.at_level(logging.ERROR, logger="kehu.lib.commits"), unit_of_work():
        Category.objects.create(name="茶叶")
        before_commit("duplicates", duplicates)
        before_commit("after", lambda: Category.objects.create(name="之后"))
    assert names() == {"茶叶", "之后"}
    assert "IntegrityError" in caplog.text or "duplicate" in caplog.text.lower() or "UNIQUE" in caplog.text


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_of_prepared_statements_reads_its_rows_and_is_rolled_back_alone_when_one_fails(caplog):
    """The upkeep's own statements (lib.db.run_prepared): on PostgreSQL the follow-up's savepoint goes in one round
    trip with the first of them. That first statement still gives its rows; a later one that fails undoes the
    follow-up's writes before it, through either kind of statement, and nothing else."""
    table = Category._meta.db_table
    read = []

    def insert(name):
        run_prepared(f"INSERT INTO {table} (name) VALUES (%s)", [name])

    def reads_then_fails():
        read.extend(run_prepared(f"SELECT name FROM {table} WHERE name = %s", ["茶叶"]))
        insert("半途")
        Category.objects.create(name="也半途")
        insert("茶叶")   # the name is unique: fails in the database

    def writes_first():
        insert("之后")
        read.extend(run_prepared(f"SELECT name FROM {table} WHERE name = %s", ["之后"]))

    with caplog.at_level(logging.ERROR, logger="kehu.lib.commits"), unit_of_work():
        Category.objects.create(name="茶叶")
        before_commit("fails", reads_then_fails)
        before_commit("after", writes_first)
    assert read == [("茶叶",), ("之后",)]
    assert names() == {"茶叶", "之后"}
    assert caplog.text.count("failed; the write it follows is kept") == 1


@pytest.mark.django_db(transaction=True)
def test_a_follow_up_that_fails_before_any_statement_leaves_the_unit_of_work_whole(caplog):
    """A follow-up that fails in Python, inside an atomic block of its own without a savepoint, before it sent a
    statement: nothing to undo in the database, and the unit of work still commits (it is not marked for rollback)."""
    def fails_at_once():
        with transaction.atomic(savepoint=False):
            raise RuntimeError("before any statement")

    with caplog.at_level(logging.ERROR, logger="kehu.lib.commits"), unit_of_work():
        Category.objects.create(name="茶叶")
        before_commit("fails", fails_at_once)
        before_commit("after", lambda: Category.objects.create(name="之后"))
    assert names() == {"茶叶", "之后"}
    assert "before any statement" in caplog.text
