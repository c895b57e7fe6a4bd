"""The engine's frames on other backends: Polars eager and lazy, DuckDB and PySpark.

The engine itself only speaks Narwhals; this module moves a Polars table onto a backend and a result back,
and starts the Spark session the tests, the benchmark and ``kehu segment --engine spark`` use. DuckDB and
PySpark are optional (the ``spark`` extra): they are imported only when asked for.
"""

from __future__ import annotations

import datetime
import os
import shutil
from typing import TYPE_CHECKING, Any

import narwhals as nw

if TYPE_CHECKING:
    import polars as pl


BACKENDS = ("polars", "polars-lazy", "duckdb", "spark")
SPARK_MASTER = "local[2]"
# PostgreSQL's JDBC driver for Spark's JDBC source (Debian: apt-get install libpostgresql-jdbc-java).
JDBC_JAR = os.environ.get("KEHU_SPARK_JDBC_JAR", "/usr/share/java/postgresql.jar")


def spark_missing() -> str | None:
    """Why Spark cannot run here (no PySpark, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'PySpark is not installed (pip install -e ".[spark]")'
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Java is not installed (PySpark needs Java 17)"
    return None


def spark_session(master: str | None = None, partitions: int = 2, small: bool = False) -> Any:
    """The process's SparkSession (made by the first call): `master` (default KEHU_SPARK_MASTER or local[2]),
    the UI off, `partitions` shuffle partitions (one machine), session time zone UTC (the engine gets UTC
    epochs and local day numbers), PostgreSQL's JDBC driver on the class path when it is installed
    (JDBC_JAR). `small` (the tests' few thousand rows): the JVM compiles with its quick compiler only, and
    whole-stage code generation and adaptive execution are off, since compiling and re-planning each of many
    tiny queries costs more than running it (tests/segments/test_engine_backends.py 61 s → 32 s)."""
    from pyspark.sql import SparkSession

    master = master or os.environ.get("KEHU_SPARK_MASTER") or SPARK_MASTER
    java_options = "-XX:+UseSerialGC -Xss4m" + (" -XX:TieredStopAtLevel=1" if small else "")
    builder = SparkSession.builder
    if os.path.exists(JDBC_JAR):
        builder = builder.config("spark.jars", JDBC_JAR)
    session = (
        builder.master(master).appName("kehu")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", java_options)
        .config("spark.sql.codegen.wholeStage", str(not small).lower())
        .config("spark.sql.adaptive.enabled", str(not small).lower())
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    return session


def to_backend(frame: pl.DataFrame, backend: str) -> Any:
    """A Polars table as a native frame of `backend` (see BACKENDS)."""
    if backend == "polars":
        return frame
    if backend == "polars-lazy":
        return frame.lazy()
    if backend == "duckdb":
        import duckdb

        return duckdb.from_arrow(frame.to_arrow())
    if backend == "spark":
        return spark_session().createDataFrame(frame.to_arrow())
    raise ValueError(f"unknown backend {backend!r}")


def to_polars(native: Any) -> pl.DataFrame:
    """Any engine result as an eager Polars frame."""
    frame = nw.from_native(native)
    if isinstance(frame, nw.LazyFrame):
        frame = frame.collect(backend="polars")
    return frame.to_polars()


def synthetic_orders(n: int, customers: int, seed: int, *, utc_offset_hours: int = 8) -> pl.DataFrame:
    """`n` seeded orders as the engine takes them: customer_id (1..`customers`: half of the orders spread
    evenly, half after a Zipf law, so a few customers have very many orders), ordered_us (UTC µs, July 2021 to
    mid-August 2024, some in the very same second), order_day (the local day at `utc_offset_hours`),
    amount_cents (log-normal), category (1..8, every 13th none)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(seed)
    customer = np.where(rng.random(n) < 0.5, rng.integers(1, customers + 1, n), rng.zipf(1.6, n) % customers + 1)
    start = int(datetime.datetime(2021, 7, 1, tzinfo=datetime.UTC).timestamp())
    end = int(datetime.datetime(2024, 8, 15, tzinfo=datetime.UTC).timestamp())
    seconds = rng.integers(start, end, n)
    seconds[::97] = seconds[1::97][: len(seconds[::97])]
    micros = seconds * 1_000_000 + rng.integers(0, 1_000_000, n)
    category = rng.integers(1, 9, n).astype(float)
    category[::13] = np.nan
    frame = pl.DataFrame({
        "customer_id": customer.astype(np.int64), "ordered_us": micros.astype(np.int64),
        "amount_cents": rng.lognormal(9, 1.2, n).astype(np.int64) + 1,
        "category": pl.Series(category).fill_nan(None).cast(pl.Int64),
    })
    return frame.with_columns(order_day=(pl.col("ordered_us") // 1_000_000 + utc_offset_hours * 3600) // 86_400)


def like(frame: pl.DataFrame, native: Any) -> Any:
    """A Polars table on the backend of `native` (to join the two)."""
    import polars as pl

    implementation = nw.from_native(native).implementation
    if implementation.is_pyspark():
        return to_backend(frame, "spark")
    if implementation.is_duckdb():
        return to_backend(frame, "duckdb")
    return frame.lazy() if isinstance(native, pl.LazyFrame) else frame


def persist(native: Any) -> Any:
    """A frame to be used more than once: a Spark DataFrame is cached (else each use computes it again)."""
    if nw.from_native(native).implementation.is_pyspark():
        return native.cache()
    return native
