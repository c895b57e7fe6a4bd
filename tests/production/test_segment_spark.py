"""`kehu segment --full --engine spark` stores what `kehu segment --full` stores (issue 14, item 5), on the
production path: the demo store (150 customers; its own PostgreSQL database on the PostgreSQL pass), both runs
as subprocesses, Spark in one local thread (KEHU_SPARK_MASTER=local[1]), reading the store the default way
(Spark's JDBC source on PostgreSQL, the Parquet snapshot on SQLite; bench/segment_spark.py runs both sources
on PostgreSQL).

Every stored column of every customer's class row, metrics row and the day's snapshot is compared: equal,
except the two interval floats (mean and spread of the days between orders), which may differ in the last
bit because Polars divides a column by a constant through its reciprocal while Spark divides (1e-12
relative, as tests/segments/test_engine_backends.py holds the backends to). Without PySpark or Java the
tests are skipped with the reason, except under KEHU_REQUIRE_SPARK=1 (CI), where that is a failure; so is the
JDBC source (the default on PostgreSQL; on SQLite the command must say it reads PostgreSQL only) without
Debian's libpostgresql-jdbc-java.
"""

import json
import math
import os

import pytest

from kehu.segments.engine import backends

SPARK = {"KEHU_SPARK_MASTER": "local[1]"}
FLOATS = ("mean_interval_days", "std_interval_days")

DUMP = """
import json
from kehu.segments.models import CustomerMetrics, CustomerSegment, SegmentRun, SegmentSnapshot

def rows(model, *key):
    fields = [f.attname for f in model._meta.concrete_fields if f.attname not in ("id", "updated_at")]
    return {"/".join(str(r[k]) for k in key): {k: None if v is None else str(v) for k, v in r.items()}
            for r in model.objects.values(*fields)}

run = SegmentRun.objects.get()
print(json.dumps({"classes": rows(CustomerSegment, "customer_id"), "metrics": rows(CustomerMetrics, "customer_id"),
                  "snapshot": rows(SegmentSnapshot, "as_of", "customer_id"),
                  "run": {"as_of": str(run.as_of), "customers": run.customers, "counts": run.counts,
                          "references": run.references, "cutoffs": run.cutoffs}}))
"""


def _require(reason: str | None) -> None:
    if reason is None:
        return
    if os.environ.get("KEHU_REQUIRE_SPARK"):
        pytest.fail(f"{reason}, and KEHU_REQUIRE_SPARK is set")
    pytest.skip(reason)


@pytest.fixture
def spark():
    _require(backends.spark_missing())


def stored(store) -> dict:
    return json.loads(store.shell(DUMP).splitlines()[-1])


def same(left: str | None, right: str | None, column: str) -> bool:
    if column == "fingerprint":   # a hash of the row, floats included: it differs with them in the last bit
        return (left is None) == (right is None)
    if column in FLOATS and left is not None and right is not None:
        return math.isclose(float(left), float(right), rel_tol=1e-12)
    return left == right


def assert_same_rows(spark_rows: dict, polars_rows: dict) -> None:
    assert spark_rows.keys() == polars_rows.keys()
    differ = [(key, column, value, spark_rows[key][column]) for key, row in polars_rows.items()
              for column, value in row.items() if not same(spark_rows[key][column], value, column)]
    assert differ == []


def test_a_full_run_on_spark_stores_what_the_polars_run_stores(spark, demo_copy):
    """With the pass's default source: Spark's JDBC source on PostgreSQL, the Parquet snapshot on SQLite."""
    source = "jdbc" if demo_copy.vendor == "postgresql" else "parquet"
    if source == "jdbc" and not os.path.exists(backends.JDBC_JAR):
        _require(f"PostgreSQL's JDBC driver {backends.JDBC_JAR} is not installed (libpostgresql-jdbc-java)")
    demo_copy.kehu("segment", "--full", "--no-progress")
    polars = stored(demo_copy)
    demo_copy.shell("from kehu.segments.models import CustomerSegment, CustomerMetrics, SegmentSnapshot\n"
                    "for m in (CustomerSegment, CustomerMetrics, SegmentSnapshot): m.objects.all().delete()")
    ran = demo_copy.kehu("segment", "--full", "--engine", "spark", env=SPARK)
    assert f"计算引擎 Engine: Spark（读取 source: {source}）" in ran.stdout
    assert "分层完成。 Done." in ran.stdout and "写入分层结果" in ran.stderr
    on_spark = stored(demo_copy)
    for table in ("classes", "metrics", "snapshot"):
        assert_same_rows(on_spark[table], polars[table])
    assert on_spark["run"] == polars["run"]
    assert len(on_spark["classes"]) == on_spark["run"]["customers"] == 150
    assert len({row["rfm_class"] for row in on_spark["classes"].values()}) > 4


def test_spark_reads_sqlite_only_through_the_snapshot(spark, ready_store):
    if ready_store.vendor == "postgresql":
        pytest.skip("a SQLite store's case")
    failed = ready_store.kehu("segment", "--engine", "spark", "--source", "jdbc", check=False, env=SPARK)
    assert failed.returncode == 1
    assert "只支持 PostgreSQL" in failed.stderr and "reads PostgreSQL only" in failed.stderr
