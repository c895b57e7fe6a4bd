"""Benchmark: segmentation at scale (store → metrics → classes).

Loads a seeded synthetic base (default 1,000,000 customers and 10 orders each on average, one order line
with a category per order, 3 % refunded) into a scratch store, then measures:

  (a) full rebuild: all orders → CustomerMetrics → classes stored (rebuild_metrics + classify_all);
  (b) re-classification from the maintained metrics (classify_all);
  (c) keeping metrics current: one order saved through the ORM with the segment signals, p50/p95,
      against the same save with the signals disconnected;
  (d) the floor: the same engine on the same orders from Parquet, in memory (no database);
  (e) tutorial-style pandas (groupby + apply / qcut), if pandas is installed, else skipped.

    .venv/bin/python bench/segments.py                              # 1,000,000 customers, SQLite
    .venv/bin/python bench/segments.py --customers 100000 --postgres postgres://postgres@127.0.0.1:5432/kehu_bench
    .venv/bin/python bench/segments.py --customers 100000 --reuse   # keep the store, load it only once

With --reuse the store is kept between runs (SQLite: <results>/store-<customers>/; PostgreSQL: the
database is not dropped) and loaded only when it does not hold the synthetic base yet; the orders the
write test (c) adds are removed again. (b2) classifies three new days: what a nightly run writes.

Prints medians and ratios and writes <results>/segments[-postgresql].json (--results, default bench/results).
Never fails on a timing.
"""

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--orders-per-customer", type=float, default=10)
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and recreated)")
    p.add_argument("--repeat", type=int, default=3, help="runs of (a), (b), (d), (e); the median is reported")
    p.add_argument("--writes", type=int, default=2000, help="orders saved one by one for (c)")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--reuse", action="store_true", help="keep the store between runs; load it once")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results",
                   help="where the JSON (and with --reuse the SQLite store) go (default bench/results)")
    return p.parse_args()


def setup_django(args: argparse.Namespace) -> str:
    if args.reuse:
        home = args.results / f"store-{args.customers}"
        home.mkdir(parents=True, exist_ok=True)
    else:
        home = Path(tempfile.mkdtemp(prefix="kehu-bench-seg-"))
    os.environ["KEHU_HOME"] = str(home)
    if args.postgres:
        import psycopg

        dbname = args.postgres.rsplit("/", 1)[1]
        admin_url = args.postgres.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
            if not (args.reuse and exists):
                conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
                conn.execute(f'CREATE DATABASE "{dbname}"')
        os.environ["KEHU_DATABASE_URL"] = args.postgres
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return "postgresql" if args.postgres else "sqlite"


def already_loaded(args: argparse.Namespace, orders) -> bool:
    from kehu.customers.models import Customer
    from kehu.sales.models import Order

    return Customer.objects.count() == args.customers and Order.objects.count() >= len(orders)


def synthesize(args: argparse.Namespace):
    """Orders as a Polars frame: customer index, epoch µs, cents, refunded flag, category (1..20)."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(args.seed)
    n_orders = int(args.customers * args.orders_per_customer)
    # Skewed buying: a customer's weight is lognormal, so some buy often and many rarely (or never).
    weights = rng.lognormal(0, 1.2, args.customers)
    customer = rng.choice(args.customers, size=n_orders, p=weights / weights.sum())
    now_us = int(dt.datetime.now(dt.UTC).timestamp()) * 1_000_000
    ordered_us = now_us - rng.integers(0, 3 * 365 * 86_400, size=n_orders, dtype=np.int64) * 1_000_000
    cents = np.round(rng.lognormal(4.5, 1.0, n_orders) * 100).astype(np.int64)
    refunded = rng.random(n_orders) < 0.03
    category = rng.integers(1, 21, size=n_orders)
    return pl.DataFrame({"customer": customer, "ordered_us": ordered_us, "cents": cents, "refunded": refunded,
                         "category": category})


def load(args: argparse.Namespace, orders) -> dict:
    """Customers, categories, orders and one line per order, in large batches through the DB cursor."""
    import polars as pl
    from django.db import connection, transaction
    from django.utils import timezone
    from tqdm import tqdm

    from kehu.customers.models import Counter, Customer
    from kehu.sales.models import Category
    from kehu.segments.pipeline import _datetime_text, _decimal_text

    started = time.perf_counter()
    now = connection.ops.adapt_datetimefield_value(timezone.now())
    Category.objects.bulk_create([Category(name=f"品类{i:02d}") for i in range(1, 21)])
    categories = dict(Category.objects.values_list("name", "id"))
    cols = ("code", "name", "kind", "gender", "birthday", "mobile", "mobile_hash", "email", "email_hash", "wechat",
            "wechat_hash", "province", "city", "district", "address", "registered_at", "source", "company",
            "industry", "company_size", "grade", "owner_id", "notes", "extra", "version", "created_at", "updated_at")
    batch = 50_000
    with transaction.atomic(), connection.cursor() as cur:
        for start in tqdm(range(0, args.customers, batch), desc="客户 customers", unit_scale=batch):
            rows = [(f"KH{i + 1:07d}", f"客户{i + 1}", "person", "", "", "", "", "", "", "", "", "广东省", "深圳市",
                     "", "", now, "门店", "", "", "", "", None, "", "{}", 1, now, now)
                    for i in range(start, min(start + batch, args.customers))]
            cur.executemany(f"INSERT INTO {Customer._meta.db_table} ({', '.join(cols)}) "
                            f"VALUES ({', '.join(['%s'] * len(cols))})", rows)
        Counter.objects.update_or_create(name="customer_code", defaults={"value": args.customers})
        cur.execute(f"SELECT MIN(id) FROM {Customer._meta.db_table}")
        first_id = cur.fetchone()[0]
        table = orders.with_row_index("id", offset=1).select(
            "id", (pl.col("customer") + first_id).alias("customer_id"), _datetime_text("ordered_us"),
            _decimal_text("cents").alias("amount"),
            pl.when(pl.col("refunded")).then(pl.lit("refunded")).otherwise(pl.lit("completed")).alias("status"),
            pl.col("category").cast(pl.String).str.zfill(2).replace_strict(
                {f"{i:02d}": categories[f"品类{i:02d}"] for i in range(1, 21)}, return_dtype=pl.Int64)
            .alias("category_id"),
        )
        order_sql = ("INSERT INTO sales_order (id, customer_id, number, ordered_at, amount, payment_method, "
                     "sales_channel, status, note, created_at) VALUES (%s, %s, '', %s, %s, 'wechat_pay', 'store', "
                     "%s, '', %s)")
        line_sql = ("INSERT INTO sales_orderline (order_id, product_name, category_id, quantity, unit_price) "
                    "VALUES (%s, '商品', %s, '1.00', %s)")
        for start in tqdm(range(0, len(table), 200_000), desc="订单 orders", unit_scale=200_000):
            chunk = table.slice(start, 200_000)
            cur.executemany(order_sql, [(*row, now) for row in chunk.select(
                "id", "customer_id", "ordered_us", "amount", "status").iter_rows()])
            cur.executemany(line_sql, list(chunk.select("id", "category_id", "amount").iter_rows()))
        if connection.vendor == "postgresql":
            cur.execute("SELECT setval(pg_get_serial_sequence('sales_order', 'id'), (SELECT MAX(id) FROM sales_order))")
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
    return {"customers": args.customers, "orders": len(orders), "load_s": round(time.perf_counter() - started, 1)}


def timed(fn, repeat: int) -> tuple[float, list[float], object]:
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times), times, result


def staged(fn):
    """Run fn(progress) and return the seconds spent in each named stage."""
    marks = []

    def progress(stage: str) -> None:
        marks.append((stage, time.perf_counter()))

    start = time.perf_counter()
    fn(progress)
    end = time.perf_counter()
    stages, previous = {}, ("开始", start)
    for stage, moment in [*marks, ("结束", end)]:
        stages[previous[0]] = round(moment - previous[1], 3)
        previous = (stage, moment)
    stages.pop("开始", None)
    return stages


def measure_writes(args: argparse.Namespace) -> dict:
    """(c) p50/p95 of one Order.objects.create, with and without the metrics signals."""
    import contextlib
    import random
    from decimal import Decimal

    from django.db import transaction
    from django.db.models.signals import post_save, pre_save
    from django.utils import timezone

    from kehu.customers.models import Customer
    from kehu.sales.models import Order
    from kehu.segments import signals

    rng = random.Random(args.seed)
    ids = list(Customer.objects.order_by("id").values_list("id", flat=True)[:: max(1, args.customers // 5000)])
    last_id = Order.objects.order_by("-id").values_list("id", flat=True).first() or 0
    now = timezone.now()

    def run(n: int, atomic: bool = False) -> list[float]:
        times = []
        for _ in range(n):
            customer_id = rng.choice(ids)
            when = now - dt.timedelta(seconds=rng.randrange(0, 86400 * 30))  # mostly after the last order
            t = time.perf_counter()
            with transaction.atomic() if atomic else contextlib.nullcontext():
                Order.objects.create(customer_id=customer_id, amount=Decimal(rng.randrange(100, 100000)) / 100,
                                     ordered_at=when)
            times.append((time.perf_counter() - t) * 1000)
        return sorted(times)

    run(50)  # warm
    with_signals = run(args.writes)
    with_signals_atomic = run(args.writes, atomic=True)
    pre_save.disconnect(dispatch_uid="segments.remember_order", sender=Order)
    post_save.disconnect(dispatch_uid="segments.order_saved", sender=Order)
    try:
        without = run(args.writes)
        without_atomic = run(args.writes, atomic=True)
    finally:
        signals.connect()
    # Leave the store as it was: drop the orders just added (in bulk, then repair their customers).
    from kehu.segments.pipeline import refresh_customers

    touched = set(Order.objects.filter(id__gt=last_id).values_list("customer_id", flat=True))
    Order.objects.filter(id__gt=last_id)._raw_delete(Order.objects.db)
    refresh_customers(touched)

    def pct(times, q):
        return round(times[min(len(times) - 1, int(len(times) * q))], 3)

    return {"orders": args.writes, "with_signals_p50_ms": pct(with_signals, 0.5),
            "with_signals_p95_ms": pct(with_signals, 0.95), "without_signals_p50_ms": pct(without, 0.5),
            "without_signals_p95_ms": pct(without, 0.95),
            "metrics_upkeep_p50_ms": round(pct(with_signals, 0.5) - pct(without, 0.5), 3),
            # the order and its metrics in one transaction (one commit), as a view in transaction.atomic
            "in_transaction_with_signals_p50_ms": pct(with_signals_atomic, 0.5),
            "in_transaction_without_signals_p50_ms": pct(without_atomic, 0.5),
            "in_transaction_upkeep_p50_ms": round(pct(with_signals_atomic, 0.5) - pct(without_atomic, 0.5), 3)}


def floor_in_memory(args: argparse.Namespace, orders, repeat: int) -> dict:
    """(d) the engine alone on the same orders read from a Parquet file."""
    import polars as pl

    from kehu.segments.engine.classify import Thresholds, classify
    from kehu.segments.engine.metrics import compute_metrics

    path = Path(tempfile.mkdtemp(prefix="kehu-bench-pq-")) / "orders.parquet"
    orders.filter(~pl.col("refunded")).select(
        pl.col("customer").alias("customer_id"),
        pl.from_epoch("ordered_us", time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone("Asia/Shanghai")
        .alias("ordered_at"),
        pl.col("cents").alias("amount_cents"), "category",
    ).write_parquet(path)
    as_of = dt.date.today()

    def run():
        frame = pl.read_parquet(path)
        metrics = compute_metrics(frame, as_of)
        return classify(metrics, Thresholds())

    median, times, _ = timed(run, repeat)
    return {"median_s": round(median, 3), "runs_s": [round(t, 3) for t in times]}


def pandas_tutorial(orders, repeat: int) -> dict:
    """(e) RFM the way tutorials write it: groupby + agg, qcut on ranks, apply for the class."""
    try:
        import pandas as pd
    except ImportError:
        return {"skipped": "pandas is not installed: pip install -e '.[bench]' to compare"}
    import polars as pl

    frame = orders.filter(~pl.col("refunded")).select("customer", "ordered_us", "cents").to_pandas()
    frame["ordered_at"] = pd.to_datetime(frame["ordered_us"], unit="us")
    frame["amount"] = frame["cents"] / 100
    now = frame["ordered_at"].max() + pd.Timedelta(days=1)

    def run():
        rfm = frame.groupby("customer").agg(
            recency=("ordered_at", lambda x: (now - x.max()).days), frequency=("ordered_at", "count"),
            monetary=("amount", "sum"))
        rfm["R"] = pd.qcut(rfm["recency"].rank(method="first"), 5, labels=[5, 4, 3, 2, 1]).astype(int)
        rfm["F"] = pd.qcut(rfm["frequency"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
        rfm["M"] = pd.qcut(rfm["monetary"].rank(method="first"), 5, labels=[1, 2, 3, 4, 5]).astype(int)
        means = rfm[["recency", "frequency", "monetary"]].mean()

        def label(row):
            r = row["recency"] < means["recency"]
            f = row["frequency"] > means["frequency"]
            m = row["monetary"] > means["monetary"]
            return ("重要" if m else "一般") + {(True, True): "价值", (True, False): "发展", (False, True): "保持",
                                                (False, False): "挽留"}[(r, f)] + "客户"

        rfm["rfm_class"] = rfm.apply(label, axis=1)
        return rfm

    median, times, _ = timed(run, repeat)
    return {"median_s": round(median, 3), "runs_s": [round(t, 3) for t in times]}


def main() -> None:
    args = parse_args()
    engine = setup_django(args)
    from kehu.lib.dates import today
    from kehu.segments import pipeline
    from kehu.segments.models import SegmentRun, SegmentSnapshot

    orders = synthesize(args)
    if args.reuse and already_loaded(args, orders):
        loaded = {"customers": args.customers, "orders": len(orders), "load_s": 0.0, "reused": True}
        print(f"reusing the store in {os.environ.get('KEHU_DATABASE_URL') or os.environ['KEHU_HOME']}")
    else:
        loaded = load(args, orders)
        print(f"\nloaded {loaded['customers']:,} customers, {loaded['orders']:,} orders in {loaded['load_s']} s")

    full_times, stages = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        stages.append(staged(lambda progress: pipeline.refresh(today(), full=True, progress=progress)))
        full_times.append(time.perf_counter() - t)
    reclassify_times, reclassify_stages = [], []
    for _ in range(args.repeat):
        t = time.perf_counter()
        reclassify_stages.append(staged(lambda progress: pipeline.classify_all(today(), progress=progress)))
        reclassify_times.append(time.perf_counter() - t)
    new_day_times, new_day_stages = [], []
    for ahead in range(1, args.repeat + 1):
        day = today() + dt.timedelta(days=ahead)
        t = time.perf_counter()
        new_day_stages.append(staged(lambda progress, day=day: pipeline.classify_all(day, progress=progress)))
        new_day_times.append(time.perf_counter() - t)
    SegmentSnapshot.objects.filter(as_of__gt=today())._raw_delete(SegmentSnapshot.objects.db)
    SegmentRun.objects.filter(as_of__gt=today()).delete()
    pipeline.classify_all(today())
    writes = measure_writes(args)
    floor = floor_in_memory(args, orders, args.repeat)
    tutorial = pandas_tutorial(orders, args.repeat)
    run = SegmentRun.objects.get(as_of=today())

    full = statistics.median(full_times)
    reclassify = statistics.median(reclassify_times)
    new_day = statistics.median(new_day_times)
    results = {
        "engine": engine, **loaded,
        "full_rebuild": {"median_s": round(full, 3), "runs_s": [round(t, 3) for t in full_times],
                         "stages_s": stages[len(stages) // 2]},
        "reclassify": {"median_s": round(reclassify, 3), "runs_s": [round(t, 3) for t in reclassify_times],
                       "stages_s": reclassify_stages[len(reclassify_stages) // 2]},
        "reclassify_new_day": {"median_s": round(new_day, 3), "runs_s": [round(t, 3) for t in new_day_times],
                               "stages_s": new_day_stages[len(new_day_stages) // 2]},
        "per_order": writes,
        "polars_parquet_floor": floor,
        "pandas_tutorial": tutorial,
        "value_model": run.value_model,
        "ratios": {"full_rebuild_vs_floor": round(full / floor["median_s"], 2),
                   "reclassify_vs_floor": round(reclassify / floor["median_s"], 2)},
    }
    if "median_s" in tutorial:
        results["ratios"]["pandas_vs_full_rebuild"] = round(tutorial["median_s"] / full, 2)
        results["ratios"]["pandas_vs_floor"] = round(tutorial["median_s"] / floor["median_s"], 2)

    print(f"\nkehu segments benchmark — {engine}, {loaded['customers']:,} customers, {loaded['orders']:,} orders")
    print(f"  (a) full rebuild store → classes  {full:8.2f} s   runs {results['full_rebuild']['runs_s']}")
    print(f"      stages {results['full_rebuild']['stages_s']}")
    print(f"  (b) re-classification, same day  {reclassify:8.2f} s   runs {results['reclassify']['runs_s']}")
    print(f"      stages {results['reclassify']['stages_s']}")
    print(f"  (b2) re-classification, new day  {new_day:8.2f} s   runs {results['reclassify_new_day']['runs_s']}")
    print(f"      stages {results['reclassify_new_day']['stages_s']}")
    print(f"  (c) one order saved               p50 {writes['with_signals_p50_ms']} ms with metrics upkeep, "
          f"{writes['without_signals_p50_ms']} ms without (upkeep ≈ {writes['metrics_upkeep_p50_ms']} ms)")
    print(f"      in one transaction            p50 {writes['in_transaction_with_signals_p50_ms']} ms with, "
          f"{writes['in_transaction_without_signals_p50_ms']} ms without "
          f"(upkeep ≈ {writes['in_transaction_upkeep_p50_ms']} ms)")
    print(f"  (d) Polars on Parquet (floor)     {floor['median_s']:8.2f} s")
    if "median_s" in tutorial:
        print(f"  (e) pandas, tutorial style        {tutorial['median_s']:8.2f} s")
    else:
        print(f"  (e) pandas, tutorial style        skipped: {tutorial['skipped']}")
    model = run.value_model
    fitted = model.get("purchases", {}).get("fitted") and model.get("spend", {}).get("fitted")
    print(f"  value models: {'fitted' if fitted else 'not fitted'} in {model.get('seconds')} s "
          f"({model.get('customers')} buyers)")
    print(f"  ratios: {results['ratios']}")
    out = args.results
    out.mkdir(parents=True, exist_ok=True)
    name = "segments.json" if engine == "sqlite" else f"segments-{engine}.json"
    (out / name).write_text(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
