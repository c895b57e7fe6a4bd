"""Benchmark: the analytics engine on each backend against Polars eager, at 1,000,000 orders.

The same seeded orders (kehu.segments.engine.backends.synthetic_orders) go to Polars eager, Polars lazy,
DuckDB and PySpark; on each the engine computes every buyer's metrics and classes
(compute_metrics → classify, the references collected as the engine does) and the result is brought back
to Polars. Moving the input onto the backend is timed apart ("load"). Prints a table of seconds and the
ratio to Polars eager, checks that every backend gave the same classes, and writes
bench/results/engines.json. Never fails on timing; a backend that is not installed is listed as skipped.

    .venv/bin/python bench/engines.py [--orders 1000000] [--repeat 1] [--spark-master local[2]]

The machine is shared: the load average before and after is part of the result.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import statistics
import time

from _output import write_json  # bench/_output.py (a script's folder is on sys.path)

from kehu.segments.engine import backends
from kehu.segments.engine.classify import classify
from kehu.segments.engine.metrics import compute_metrics

AS_OF = datetime.date(2024, 6, 30)
CLASS_COLUMNS = ("customer_id", "recency_days", "frequency", "monetary_cents", "r_score", "f_score", "m_score",
                 "rfm_class", "rf_segment", "abc_class", "frequency_tier", "value_tier", "lifecycle", "overdue",
                 "category_loyalty", "trend")


def available(backend: str) -> str | None:
    if backend == "spark":
        return backends.spark_missing()
    if backend == "duckdb":
        try:
            import duckdb  # noqa: F401
        except ImportError:
            return "DuckDB is not installed"
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--orders", type=int, default=1_000_000)
    parser.add_argument("--customers", type=int, default=None, help="default: orders / 10")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--seed", type=int, default=14)
    parser.add_argument("--spark-master", default=os.environ.get("KEHU_SPARK_MASTER", backends.SPARK_MASTER))
    parser.add_argument("--backends", default=",".join(backends.BACKENDS))
    args = parser.parse_args()
    os.environ["KEHU_SPARK_MASTER"] = args.spark_master

    orders = backends.synthetic_orders(args.orders, args.customers or args.orders // 10, args.seed)
    results: dict = {"orders": args.orders, "customers_buying": None, "as_of": AS_OF.isoformat(),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "load_before": os.getloadavg()},
                     "spark_master": args.spark_master, "backends": {}}
    reference = None
    for backend in args.backends.split(","):
        missing = available(backend)
        if missing:
            results["backends"][backend] = {"skipped": missing}
            print(f"{backend:12} skipped: {missing}")
            continue
        if backend == "spark":
            started = time.perf_counter()
            backends.spark_session(args.spark_master)
            results["backends"]["spark_start_seconds"] = round(time.perf_counter() - started, 2)
        runs, loads = [], []
        for _ in range(args.repeat):
            started = time.perf_counter()
            native = backends.to_backend(orders, backend)
            if backend == "spark":
                native = native.cache()
                native.count()  # the input in Spark's memory, as a table read once would be
            loads.append(time.perf_counter() - started)
            started = time.perf_counter()
            classified, _ = classify(compute_metrics(native, AS_OF))
            table = backends.to_polars(classified)
            runs.append(time.perf_counter() - started)
            if backend == "spark":
                native.unpersist()
        table = table.select(CLASS_COLUMNS).sort("customer_id")
        if reference is None:
            reference = table
            results["customers_buying"] = len(table)
        results["backends"][backend] = {
            "seconds": round(statistics.median(runs), 3), "load_seconds": round(statistics.median(loads), 3),
            "same_classes_as_first": table.equals(reference), "runs": [round(r, 3) for r in runs],
        }
    base = results["backends"].get("polars", {}).get("seconds")
    print(f"\n{args.orders:,} orders, {results['customers_buying']:,} buying customers, as of {AS_OF}; "
          f"load average before {results['machine']['load_before']}")
    print(f"{'backend':12} {'seconds':>9} {'× Polars':>9} {'load s':>8}  same classes")
    for backend, row in results["backends"].items():
        if not isinstance(row, dict) or "seconds" not in row:
            continue
        row["ratio_to_polars_eager"] = round(row["seconds"] / base, 2) if base else None
        print(f"{backend:12} {row['seconds']:9.2f} {row['ratio_to_polars_eager'] or 0:9.2f} "
              f"{row['load_seconds']:8.2f}  {row['same_classes_as_first']}")
    results["machine"]["load_after"] = os.getloadavg()
    print(f"load average after {results['machine']['load_after']}")
    out = write_json("engines.json", results)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
