"""Benchmark: `kehu segment --full` on Polars against `--engine spark`, and Spark's two ways into the store.

Runs on the store of the environment (KEHU_HOME / KEHU_DATABASE_URL, PostgreSQL for the JDBC source), which
must already hold the orders; it rewrites that store's metrics and classes. Two parts:

* reading: the counted orders, their lines and the customers into Spark, through the Parquet snapshot
  (COPY → Polars → Parquet → spark.read.parquet) and through Spark's JDBC source, each cached whole and
  counted (a bare count would let JDBC skip the columns; the Spark session is started before the clock);
* the whole run: `kehu segment --full` with the default Polars engine, then with `--engine spark` for each
  source, as subprocesses: wall time, the run's own seconds (SegmentRun.seconds, from the lease to the
  commit), and the CPU seconds of the process tree (Python and the JVM), sampled from /proc.

    KEHU_DATABASE_URL=postgres://… .venv/bin/python bench/segment_spark.py [--spark-master local[2]]

The machine is shared: the load average before and after is part of the result. Writes
bench/results/segment_spark.json.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path

from _output import write_json  # bench/_output.py (a script's folder is on sys.path)

TICKS = os.sysconf("SC_CLK_TCK")


def tree_cpu(root: int, seen: dict[int, float]) -> None:
    """Record in `seen` (by pid) the CPU seconds (user + system) so far of `root` and its descendants."""
    children: dict[int, list[int]] = {}
    cpu: dict[int, float] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
            cpu[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    stack = [root]
    while stack:
        pid = stack.pop()
        seen[pid] = max(seen.get(pid, 0.0), cpu.get(pid, 0.0))
        stack.extend(children.get(pid, []))


def run_segment(*args: str) -> dict:
    """`kehu segment --full --no-progress ARGS`: wall seconds, the run's seconds, CPU seconds of the tree."""
    kehu = str(Path(sys.executable).with_name("kehu"))
    started = time.perf_counter()
    process = subprocess.Popen([kehu, "segment", "--full", "--no-progress", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    seen: dict[int, float] = {}
    while process.poll() is None:
        tree_cpu(process.pid, seen)
        time.sleep(0.2)
    out, err = process.communicate()
    wall = time.perf_counter() - started
    if process.returncode:
        raise SystemExit(f"kehu segment {' '.join(args)} failed:\n{out}\n{err}")
    seconds = float(re.search(r"用时 Time: ([\d.]+)", out).group(1))
    customers = int(re.search(r"客户 Customers: ([\d,]+)", out).group(1).replace(",", ""))
    return {"args": " ".join(args) or "(polars)", "wall_seconds": round(wall, 2), "run_seconds": seconds,
            "cpu_seconds": round(sum(seen.values()), 1), "customers": customers}


def reading(sources: list[str]) -> dict:
    """Seconds to have the orders, lines and customers in Spark (counted) through each source."""
    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    django.setup()
    from kehu.segments import spark
    from kehu.segments.engine import backends

    backends.spark_session().range(1).count()  # the JVM up before the clock starts
    figures = {}
    for source in sources:
        started, cpu = time.perf_counter(), time.process_time()
        with spark.reader(source) as read:
            frames = read()
            tables = {name: getattr(frames, name).cache() for name in ("orders", "lines", "customers")}
            rows = {name: table.count() for name, table in tables.items()}  # every column, into the cache
            for table in tables.values():
                table.unpersist()
        figures[source] = {"seconds": round(time.perf_counter() - started, 2),
                           "python_cpu_seconds": round(time.process_time() - cpu, 2), "rows": rows}
        print(f"read {source:8} {figures[source]['seconds']:7.2f} s  {rows}", flush=True)
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spark-master", default=os.environ.get("KEHU_SPARK_MASTER", "local[2]"))
    parser.add_argument("--sources", default="parquet,jdbc")
    parser.add_argument("--no-runs", action="store_true", help="only the reading part")
    args = parser.parse_args()
    os.environ["KEHU_SPARK_MASTER"] = args.spark_master
    sources = args.sources.split(",")
    results: dict = {"spark_master": args.spark_master, "cpus": os.cpu_count(), "load_before": os.getloadavg()}
    results["reading"] = reading(sources)
    results["runs"] = []
    for extra in [] if args.no_runs else ([], *(["--engine", "spark", "--source", source] for source in sources)):
        row = run_segment(*extra)
        results["runs"].append(row)
        print(f"{row['args']:35} wall {row['wall_seconds']:7.2f} s  run {row['run_seconds']:7.2f} s"
              f"  cpu {row['cpu_seconds']:7.1f} s  customers {row['customers']:,}", flush=True)
    results["load_after"] = os.getloadavg()
    print(f"load average before {results['load_before']}, after {results['load_after']}")
    print(write_json("segment_spark.json", results))


if __name__ == "__main__":
    main()
