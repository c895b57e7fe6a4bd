"""Benchmark: what a customer's classes following its orders costs per order (issue 9, item 3).

Builds a scratch store (a file-backed SQLite store in WAL mode under a temporary KEHU_HOME, or a
PostgreSQL database given with --postgres, dropped and created again), loads a synthetic base through
bulk inserts (no signals), runs one full classification (`kehu segment --full`), then saves orders one
by one with Order.objects.create, as a form or the API does:

  * with today's upkeep only (the metrics signals, the re-classification switched off), and
  * with the re-classification of the customer at the commit (upkeep.follow),

alternating order by order so that both see the same store and the same load of the machine, and reports
the median per order of each and their difference — the cost of the re-classification — and the same for
an order changed (amount) and refunded, in wall-clock and in CPU time; and the re-classification of one
customer on its own. The target is ≤ 1 ms per order.

    .venv/bin/python bench/upkeep.py                      # SQLite file, 20,000 customers, 3,000 orders
    .venv/bin/python bench/upkeep.py --cache-mib 64           # the same with a 64 MiB SQLite page cache
    .venv/bin/python bench/upkeep.py --postgres postgres://postgres@127.0.0.1:5432/kehu_bench_upkeep

On a loaded machine the wall-clock figures of the change and refund paths exceed the CPU figures: with
SQLite's default 2 MiB page cache the pages the re-classification reads push out pages the next write
needs, and each read back is a system call after which a busy machine may run something else first.
A larger page cache (--cache-mib) removes most of that.

Prints the figures and writes bench/results/upkeep[-postgresql].json. Never fails on a timing.
"""

import argparse
import datetime as dt
import json
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--orders-per-customer", type=int, default=5)
    p.add_argument("--writes", type=int, default=3000, help="orders saved one by one, per variant")
    p.add_argument("--block", type=int, default=1, help="orders per alternating block (1: every other order)")
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and created)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--cache-mib", type=int, default=0,
                   help="SQLite page cache of the connection in MiB (PRAGMA cache_size); 0: SQLite's default, 2 MiB")
    return p.parse_args()


def setup_django(args: argparse.Namespace) -> str:
    home = Path(tempfile.mkdtemp(prefix="kehu-bench-upkeep-"))
    os.environ["KEHU_HOME"] = str(home)
    if args.postgres:
        import psycopg

        dbname = args.postgres.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        os.environ["KEHU_DATABASE_URL"] = args.postgres
    else:
        os.environ.pop("KEHU_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return "postgresql" if args.postgres else "sqlite"


def load(args: argparse.Namespace, rng: random.Random) -> None:
    """Customers and orders through bulk_create (no signals), then metrics and one classification run."""
    from django.db import transaction
    from django.utils import timezone

    from kehu.customers.models import Customer
    from kehu.sales.models import Order, OrderStatus
    from kehu.segments import pipeline

    now = timezone.now()
    with transaction.atomic():
        Customer.objects.bulk_create([Customer(code=f"B{i:07d}", name=f"客户{i}") for i in range(args.customers)],
                                     batch_size=5000)
        ids = list(Customer.objects.values_list("id", flat=True))
        orders = [Order(customer_id=rng.choice(ids), amount=Decimal(rng.randrange(100, 200_000)) / 100,
                        ordered_at=now - dt.timedelta(seconds=rng.randrange(30 * 86400, 900 * 86400)),
                        status=OrderStatus.REFUNDED if rng.random() < 0.03 else OrderStatus.COMPLETED)
                  for _ in range(args.customers * args.orders_per_customer)]
        Order.objects.bulk_create(orders, batch_size=5000)
    pipeline.refresh(full=True)


def measure(args: argparse.Namespace, rng: random.Random) -> dict:
    from django.db import connection
    from django.utils import timezone

    from kehu.customers.models import Customer
    from kehu.sales.models import Order, OrderStatus
    from kehu.segments import signals, upkeep

    ids = list(Customer.objects.values_list("id", flat=True))
    now = timezone.now()
    follow = signals.follow
    if args.cache_mib and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {-1024 * int(args.cache_mib)}")

    def off(customer_id):
        return None

    # per kind and variant: wall-clock and CPU (process) milliseconds of each save
    times = {kind: {variant: ([], []) for variant in ("upkeep", "follow")} for kind in ("add", "change", "refund")}

    def timed(kind: str, variant: str, save) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        save()
        times[kind][variant][0].append((time.perf_counter() - wall) * 1000)
        times[kind][variant][1].append((time.process_time() - cpu) * 1000)

    def block(variant: str) -> None:
        signals.follow = follow if variant == "follow" else off
        for _ in range(args.block):
            new = Order(customer_id=rng.choice(ids), amount=Decimal(rng.randrange(100, 100_000)) / 100,
                        ordered_at=now - dt.timedelta(seconds=rng.randrange(0, 86400 * 30)))  # mostly the latest
            timed("add", variant, new.save)
            order = new
            order.amount += 1
            timed("change", variant, order.save)
            order.status = OrderStatus.REFUNDED
            timed("refund", variant, order.save)

    block("upkeep")
    block("follow")  # warm both paths
    for variants in times.values():
        for wall, cpu in variants.values():
            wall.clear()
            cpu.clear()
    for i in range(2 * (args.writes // args.block)):
        block("follow" if i % 2 else "upkeep")
    signals.follow = follow
    alone_wall, alone_cpu = [], []   # the re-classification of one customer on its own, no order written
    for _ in range(args.writes):
        customer_id = rng.choice(ids)
        wall, cpu = time.perf_counter(), time.process_time()
        upkeep.reclassify([customer_id])
        alone_wall.append((time.perf_counter() - wall) * 1000)
        alone_cpu.append((time.process_time() - cpu) * 1000)
    result = {"reclassify_one_p50_wall_ms": round(statistics.median(alone_wall), 3),
              "reclassify_one_p50_cpu_ms": round(statistics.median(alone_cpu), 3),
              "orders_per_variant": len(times["add"]["upkeep"][0]),
              "run_has_cutoffs": upkeep.latest_basis() is not None, "load_average": os.getloadavg()[0]}
    for kind, variants in times.items():
        figures = {}
        for clock, i in (("wall", 0), ("cpu", 1)):
            up, fo = statistics.median(variants["upkeep"][i]), statistics.median(variants["follow"][i])
            figures |= {f"upkeep_p50_{clock}_ms": round(up, 3), f"with_classes_p50_{clock}_ms": round(fo, 3),
                        f"classes_cost_p50_{clock}_ms": round(fo - up, 3)}
        result[kind] = figures
    return result


def main() -> None:
    args = parse_args()
    engine = setup_django(args)
    rng = random.Random(args.seed)
    started = time.perf_counter()
    load(args, rng)
    loaded = round(time.perf_counter() - started, 1)
    result = {"engine": engine, "customers": args.customers,
              "orders": args.customers * args.orders_per_customer, "load_and_first_run_s": loaded,
              **measure(args, rng)}
    suffix = ("-postgresql" if engine == "postgresql" else "") + (f"-cache{args.cache_mib}" if args.cache_mib else "")
    result["sqlite_cache_mib"] = args.cache_mib or None
    out = ROOT / "bench" / "results" / f"upkeep{suffix}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, ensure_ascii=False, indent=2))
    print(f"{engine}: {args.customers:,} customers, {result['orders']:,} orders; "
          f"{result['orders_per_variant']:,} orders per variant")
    print(f"  (load average {result['load_average']:.1f}; wall-clock includes waiting for a CPU, CPU time does not)")
    print(f"  one customer re-classified on its own: p50 {result['reclassify_one_p50_wall_ms']:.3f} ms wall, "
          f"{result['reclassify_one_p50_cpu_ms']:.3f} ms CPU")
    for kind in ("add", "change", "refund"):
        r = result[kind]
        for clock in ("wall", "cpu"):
            print(f"  {kind:<7} {clock:<5} p50 {r[f'upkeep_p50_{clock}_ms']:.3f} ms with today's upkeep, "
                  f"{r[f'with_classes_p50_{clock}_ms']:.3f} ms with the classes following: "
                  f"+ {r[f'classes_cost_p50_{clock}_ms']:.3f} ms per order")
    print(f"  written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
