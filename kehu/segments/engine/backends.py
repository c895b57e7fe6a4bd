"""The engine's frames on other backends: Polars eager and lazy, DuckDB and PySpark.

The engine itself only speaks Narwhals; this module moves a Polars table onto a backend and a result back,
and starts the Spark session the tests, the benchmark and ``kehu segment --engine spark`` use. DuckDB and
PySpark are optional (the ``spark`` extra): they are imported only when asked for.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

import narwhals as nw
import polars as pl

BACKENDS = ("polars", "polars-lazy", "duckdb", "spark")
SPARK_MASTER = "local[2]"


def spark_missing() -> str | None:
    """Why Spark cannot run here (no PySpark, no Java), or None."""
    try:
        import pyspark  # noqa: F401
    except ImportError:
        return 'PySpark is not installed (pip install -e ".[spark]")'
    if not (shutil.which("java") or os.environ.get("JAVA_HOME")):
        return "Java is not installed (PySpark needs Java 17)"
    return None


def spark_session(master: str | None = None) -> Any:
    """The process's SparkSession: `master` (default KEHU_SPARK_MASTER or local[2]), the UI off, few shuffle
    partitions (one machine), session time zone UTC (the engine gets UTC epochs and local day numbers)."""
    from pyspark.sql import SparkSession

    master = master or os.environ.get("KEHU_SPARK_MASTER") or SPARK_MASTER
    partitions = os.environ.get("KEHU_SPARK_PARTITIONS", "2")
    session = (
        SparkSession.builder.master(master).appName("kehu")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", partitions)
        .config("spark.default.parallelism", partitions)
        .config("spark.sql.session.timeZone", "UTC")
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.driver.extraJavaOptions", "-XX:+UseSerialGC -Xss4m")
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
