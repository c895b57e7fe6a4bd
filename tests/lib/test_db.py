"""run_prepared: the same rows as Django's cursor; on PostgreSQL the statement is prepared once on the connection
(and only it: Django's own statements stay unprepared, as a pooler needs), not at all with KEHU_PG_PREPARE off."""

import pytest
from django.db import connection

from kehu.lib.db import run_prepared
from kehu.sales.models import Category

SQL = "SELECT name FROM sales_category WHERE id >= %s ORDER BY name"


def prepared_statements() -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT statement FROM pg_prepared_statements")
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.django_db(transaction=True)
def test_run_prepared_gives_the_rows_and_prepares_on_postgresql():
    connection.close()   # a new connection: nothing prepared on it yet
    first = Category.objects.create(name="茶叶")
    Category.objects.create(name="茶具")
    for _ in range(3):
        assert run_prepared(SQL, [first.pk]) == [("茶具",), ("茶叶",)]
    assert run_prepared("UPDATE sales_category SET name = %s WHERE id = %s", ["绿茶", first.pk]) == []
    assert Category.objects.get(pk=first.pk).name == "绿茶"
    if connection.vendor != "postgresql":
        return
    for _ in range(10):
        list(Category.objects.filter(name="绿茶"))   # Django's own statements: never prepared
    assert sorted(prepared_statements()) == ["SELECT name FROM sales_category WHERE id >= $1 ORDER BY name",
                                             "UPDATE sales_category SET name = $1 WHERE id = $2"]


@pytest.mark.django_db(transaction=True)
def test_without_preparing_on_postgresql(settings):
    if connection.vendor != "postgresql":
        pytest.skip("preparing is PostgreSQL's")
    settings.KEHU_PG_PREPARE = False
    connection.close()
    Category.objects.create(name="茶叶")
    assert run_prepared(SQL, [0]) == [("茶叶",)]
    assert prepared_statements() == []


@pytest.mark.django_db(transaction=True)
def test_a_recomputable_write_is_one_statement_committed_alone_without_waiting_for_the_disk():
    """Outside a transaction the writes are committed at once, without a wait for the disk that the next statement
    would still see (set_config is local to the statement's transaction; PostgreSQL counts no flush); inside one they
    are committed with it."""
    from django.db import transaction

    from kehu.lib.db import recomputable_write

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's")
    insert = "INSERT INTO sales_category (name) VALUES (%s)"

    def flushes() -> int:
        with connection.cursor() as cursor:   # this session's counts reach pg_stat_wal at its next idle moment
            cursor.execute("SELECT pg_stat_force_next_flush()")
            cursor.execute("SELECT 1")
            cursor.execute("SELECT wal_sync FROM pg_stat_wal")
            return cursor.fetchone()[0]

    before = flushes()
    for i in range(20):
        run_prepared(recomputable_write([insert, insert]), [f"茶{i}", f"绿茶{i}"])
    assert flushes() - before < 5   # each would flush once when it waited (other sessions may flush a few)
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        assert cursor.fetchone() == ("on",)
    assert Category.objects.filter(name__startswith="绿茶").count() == 20
    with pytest.raises(RuntimeError), transaction.atomic():
        run_prepared(recomputable_write([insert]), ["白茶"])
        with connection.cursor() as cursor:
            cursor.execute("SHOW synchronous_commit")
            assert cursor.fetchone() == ("on",)   # the caller's transaction commits as it would
        raise RuntimeError("rolled back")
    assert not Category.objects.filter(name="白茶").exists()


SCRATCH = """
CREATE TABLE kehu_scratch_parent (id integer PRIMARY KEY);
CREATE TABLE kehu_scratch (id integer PRIMARY KEY, parent_id integer NOT NULL
    REFERENCES kehu_scratch_parent (id) DEFERRABLE INITIALLY DEFERRED, score integer CHECK (score >= 0),
    label text DEFAULT 'x', UNIQUE (label, score));
CREATE INDEX kehu_scratch_score_idx ON kehu_scratch (score DESC, id);
INSERT INTO kehu_scratch_parent VALUES (1), (2);
INSERT INTO kehu_scratch (id, parent_id, score) VALUES (1, 1, 5), (2, 2, 7);
"""


def shape(cursor, table: str) -> tuple:
    cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s ORDER BY 1", [table])
    indexes = cursor.fetchall()
    cursor.execute("SELECT conname, pg_get_constraintdef(oid) FROM pg_constraint WHERE conrelid = %s::regclass"
                   " ORDER BY 1", [table])
    return indexes, cursor.fetchall()


@pytest.mark.django_db
def test_fresh_copy_puts_a_filled_copy_in_place_with_the_same_indexes_and_constraints():
    from django.db import IntegrityError, transaction

    from kehu.lib.db import fresh_copy

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(SCRATCH)   # its rows' foreign-key checks are still pending (deferred) when the copy replaces it
        before = shape(cursor, "kehu_scratch")
        cursor.execute("SELECT 'kehu_scratch'::regclass::oid")
        oid = cursor.fetchone()[0]
        with fresh_copy("kehu_scratch") as new:
            assert new != "kehu_scratch"
            cursor.execute(f"INSERT INTO {new} (id, parent_id, score) VALUES (3, 2, 9)")
            cursor.execute("SELECT count(*) FROM kehu_scratch")
            assert cursor.fetchone()[0] == 2   # the old rows until the block ends
        cursor.execute("SELECT id, parent_id, score, label FROM kehu_scratch")
        assert cursor.fetchall() == [(3, 2, 9, "x")]
        assert shape(cursor, "kehu_scratch") == before and len(before[0]) == 3 and len(before[1]) == 4
        cursor.execute("SELECT 'kehu_scratch'::regclass::oid, to_regclass('kehu_scratch__new')")
        new_oid, leftover = cursor.fetchone()
        assert new_oid != oid and leftover is None
        for bad in ("(4, 1, -1)", "(5, 9, 1)"):   # the check and the foreign key hold on the copy
            with pytest.raises(IntegrityError), transaction.atomic():
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                cursor.execute(f"INSERT INTO kehu_scratch (id, parent_id, score) VALUES {bad}")


@pytest.mark.django_db
def test_a_role_that_does_not_own_the_table_empties_it_instead():
    from kehu.lib.db import fresh_copy

    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's")
    with connection.cursor() as cursor:
        cursor.execute(SCRATCH)
        cursor.execute("CREATE ROLE kehu_scratch_user; GRANT ALL ON kehu_scratch, kehu_scratch_parent"
                       " TO kehu_scratch_user; SET ROLE kehu_scratch_user")
        cursor.execute("SELECT 'kehu_scratch'::regclass::oid")
        oid = cursor.fetchone()[0]
        with fresh_copy("kehu_scratch") as target:
            assert target == "kehu_scratch"
            cursor.execute("INSERT INTO kehu_scratch (id, parent_id, score) VALUES (3, 2, 9)")
        cursor.execute("SELECT 'kehu_scratch'::regclass::oid, array_agg(id) FROM kehu_scratch")
        assert cursor.fetchone() == (oid, [3])
        cursor.execute("RESET ROLE")


@pytest.mark.django_db(transaction=True)
def test_read_copy_takes_every_row_of_a_copy_and_raises_its_error_as_psycopg_would():
    if connection.vendor != "postgresql":
        pytest.skip("COPY is PostgreSQL's")
    import io

    from psycopg import errors

    from kehu.lib.db import read_copy

    def copied(sql: str, params=None) -> bytes:
        into = io.BytesIO()
        with connection.cursor() as cursor, cursor.cursor.copy(f"COPY ({sql}) TO STDOUT", params) as copy:
            read_copy(copy, into)
        return into.getvalue()

    # many network reads' worth of rows, and a parameter bound by psycopg
    text = copied("SELECT x, repeat('客', x %% 7) FROM generate_series(1, %s) x", [250_000])
    expected = "".join(f"{x}\t{'客' * (x % 7)}\n" for x in range(1, 250_001)).encode()
    assert text == expected
    assert copied("SELECT 1 WHERE false") == b""
    with pytest.raises(errors.DivisionByZero):   # the error comes after rows were sent
        copied("SELECT 1 / (x - 60000) FROM generate_series(1, 100000) x")
    with connection.cursor() as cursor:   # the connection goes on
        cursor.execute("SELECT 2")
        assert cursor.fetchone() == (2,)
