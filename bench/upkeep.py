"""Benchmark: what keeping a customer's classes current costs per order (issue 9, items 3 and 8).

Builds a scratch store (a file-backed SQLite store in WAL mode under a temporary KEHU_HOME, or a
PostgreSQL database given with --postgres, dropped and created again), loads a synthetic base of customers,
orders and order lines through bulk inserts (no signals), runs one full classification (`kehu segment
--full`), then saves orders one by one as the API does (the order and its 1–3 lines in one transaction),
each in one of three variants:

  * none:    no upkeep at all (the segment signals disconnected),
  * metrics: the metrics signals only (the re-classification switched off),
  * classes: the metrics signals and the re-classification of the customer at the commit (upkeep.follow).

Every round saves one order in each variant, in a shuffled order, on three random customers; a share of the
orders (--middle) falls in the middle of the customer's history, the rest after its last order. Then each
of the three orders is changed (amount), refunded, counted again (untimed) and deleted. The figures are
medians over the rounds of the per-round differences: classes − none (all upkeep) and classes − metrics
(the re-classification), in
wall-clock and in CPU time; plus the re-classification of one customer on its own. The target of the
re-classification is ≤ 1 ms per order (issue 14 aims at 0.2 ms on SQLite, 0.5 ms on PostgreSQL).

    .venv/bin/python bench/upkeep.py                      # SQLite file, 20,000 customers, 2,000 rounds
    .venv/bin/python bench/upkeep.py --customers 100000 --cache-mib 64
    .venv/bin/python bench/upkeep.py --postgres postgres://postgres@127.0.0.1:5432/kehu_bench_upkeep

Wall-clock includes waiting for a CPU on a busy machine; CPU time does not (the load average is printed).
Prints the figures and writes bench/results/upkeep[-postgresql].json. Never fails on a timing.
"""

import argparse
import datetime as dt
import os
import random
import statistics
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

from _output import write_json  # bench/_output.py (a script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=20_000)
    p.add_argument("--orders-per-customer", type=int, default=5)
    p.add_argument("--writes", type=int, default=2000, help="rounds: orders saved (changed, …) per variant")
    p.add_argument("--middle", type=float, default=0.3, help="share of the orders put in the middle of a history")
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and created)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--home", default="", help="KEHU_HOME of the SQLite store (default: a new temporary folder)")
    p.add_argument("--reuse", action="store_true",
                   help="measure on the store left by an earlier run with the same --home / --postgres (no load):"
                        " two versions of the code measured on one store")
    p.add_argument("--cache-mib", type=int, default=0,
                   help="SQLite page cache of the connection in MiB (PRAGMA cache_size); 0: SQLite's default, 2 MiB")
    return p.parse_args()


def setup_django(args: argparse.Namespace) -> str:
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="kehu-bench-upkeep-"))
    home.mkdir(parents=True, exist_ok=True)
    os.environ["KEHU_HOME"] = str(home)
    if args.postgres and not args.reuse:
        import psycopg

        dbname = args.postgres.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')
    if args.postgres:
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
    """Customers, orders and lines through bulk_create (no signals), then one full classification run."""
    from django.db import transaction
    from django.utils import timezone

    from kehu.customers.models import Customer
    from kehu.sales.models import Category, Order, OrderLine, OrderStatus
    from kehu.segments import pipeline

    now = timezone.now()
    with transaction.atomic():
        categories = Category.objects.bulk_create([Category(name=f"品类{i}") for i in range(CATEGORIES)])
        Customer.objects.bulk_create([Customer(code=f"B{i:07d}", name=f"客户{i}") for i in range(args.customers)],
                                     batch_size=5000)
        ids = list(Customer.objects.values_list("id", flat=True))
        for start in range(0, args.customers * args.orders_per_customer, 50_000):
            count = min(50_000, args.customers * args.orders_per_customer - start)
            orders, lines = [], []
            for _ in range(count):
                order_lines = _lines(rng, categories)
                orders.append(Order(
                    customer_id=rng.choice(ids), amount=sum(q * p for _, q, p in order_lines),
                    ordered_at=now - dt.timedelta(seconds=rng.randrange(30 * 86400, 900 * 86400)),
                    status=OrderStatus.REFUNDED if rng.random() < 0.03 else OrderStatus.COMPLETED))
                lines.append(order_lines)
            Order.objects.bulk_create(orders, batch_size=5000)
            OrderLine.objects.bulk_create(
                [OrderLine(order_id=order.pk, category=category, product_name="商品", quantity=q, unit_price=p)
                 for order, order_lines in zip(orders, lines, strict=True) for category, q, p in order_lines],
                batch_size=5000)
    pipeline.refresh(full=True)


CATEGORIES = 12
VARIANTS = ("none", "metrics", "classes")
KINDS = ("add", "change", "refund", "delete")


def _lines(rng: random.Random, categories: list) -> list[tuple]:
    """1–3 lines: (category, quantity, unit price)."""
    return [(rng.choice(categories), Decimal(rng.randint(1, 3)), Decimal(rng.randrange(100, 60_000)) / 100)
            for _ in range(rng.randint(1, 3))]


def measure(args: argparse.Namespace, rng: random.Random) -> dict:
    from django.db import connection
    from django.db.models import Max, Min
    from django.db.models.signals import post_delete, post_save, pre_save
    from django.utils import timezone

    from kehu.customers.models import Customer
    from kehu.lib.commits import unit_of_work
    from kehu.sales.models import Category, Order, OrderLine, OrderStatus
    from kehu.segments import signals, upkeep

    ids = list(Customer.objects.values_list("id", flat=True))
    categories = list(Category.objects.all())
    now = timezone.now()
    follow = signals.follow
    if args.cache_mib and connection.vendor == "sqlite":
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA cache_size = {-1024 * int(args.cache_mib)}")

    def off(customer_id):
        return None

    def switch(variant: str) -> None:
        # A receiver connected for a sender is disconnected only by naming that sender too.
        for signal, sender, uid in ((pre_save, Order, "remember_order"), (post_save, Order, "order_saved"),
                                    (post_delete, Order, "order_deleted"), (pre_save, OrderLine, "remember_line"),
                                    (post_save, OrderLine, "line_saved"), (post_delete, OrderLine, "line_deleted")):
            signal.disconnect(sender=sender, dispatch_uid=f"segments.{uid}")
        if variant != "none":
            signals.connect()
        signals.follow = follow if variant == "classes" else off

    def moment(customer_id: int) -> dt.datetime:
        """After the customer's last order, or (a share --middle) between its first and last."""
        if rng.random() < args.middle:
            span = Order.objects.filter(customer_id=customer_id).aggregate(a=Min("ordered_at"), b=Max("ordered_at"))
            if span["a"] is not None and span["a"] < span["b"]:
                return span["a"] + (span["b"] - span["a"]) * rng.random()
        return now - dt.timedelta(seconds=rng.randrange(0, 86400 * 20))

    # kind -> variant -> clock -> milliseconds, one entry per round
    times = {kind: {variant: {"wall": [], "cpu": []} for variant in VARIANTS} for kind in KINDS}

    def timed(kind: str, variant: str, write) -> None:
        wall, cpu = time.perf_counter(), time.process_time()
        write()
        times[kind][variant]["wall"].append((time.perf_counter() - wall) * 1000)
        times[kind][variant]["cpu"].append((time.process_time() - cpu) * 1000)

    def add(order: Order, lines: list[tuple]) -> None:
        with unit_of_work():   # as save_order (the order form and the API) saves an order with its lines
            order.save()
            for category, quantity, price in lines:
                OrderLine(order=order, category=category, product_name="商品", quantity=quantity,
                          unit_price=price).save()

    def one_round() -> None:
        variants = list(VARIANTS)
        rng.shuffle(variants)
        for kind in KINDS:
            for variant in variants:
                switch(variant)
                if kind == "add":
                    customer_id = rng.choice(ids)
                    lines = _lines(rng, categories)
                    order = orders[variant] = Order(customer_id=customer_id, ordered_at=moment(customer_id),
                                                    amount=sum(q * p for _, q, p in lines))
                    timed(kind, variant, lambda order=order, lines=lines: add(order, lines))
                    continue
                order = orders[variant]
                if kind == "change":
                    order.amount += 1
                    timed(kind, variant, order.save)
                elif kind == "refund":
                    order.status = OrderStatus.REFUNDED
                    timed(kind, variant, order.save)
                    order.status = OrderStatus.COMPLETED   # counted again (untimed), to be deleted
                    order.save()
                else:
                    timed(kind, variant, order.delete)
        switch("classes")

    orders: dict[str, Order] = {}
    one_round()  # warm every path
    for variants in times.values():
        for clocks in variants.values():
            for values in clocks.values():
                values.clear()
    for _ in range(args.writes):
        one_round()
    alone_wall, alone_cpu = [], []   # the re-classification of one customer on its own, no order written
    for _ in range(args.writes):
        customer_id = rng.choice(ids)
        wall, cpu = time.perf_counter(), time.process_time()
        upkeep.reclassify([customer_id])
        alone_wall.append((time.perf_counter() - wall) * 1000)
        alone_cpu.append((time.process_time() - cpu) * 1000)
    result = {"reclassify_one_p50_wall_ms": round(statistics.median(alone_wall), 3),
              "reclassify_one_p50_cpu_ms": round(statistics.median(alone_cpu), 3),
              "rounds": args.writes, "middle_share": args.middle,
              "run_has_cutoffs": upkeep.latest_basis() is not None, "load_average": os.getloadavg()}
    for kind, variants in times.items():
        figures = {}
        for clock in ("wall", "cpu"):
            v = {variant: variants[variant][clock] for variant in VARIANTS}
            figures |= {f"{variant}_p50_{clock}_ms": round(statistics.median(v[variant]), 3) for variant in VARIANTS}
            figures |= {
                f"upkeep_cost_p50_{clock}_ms": round(statistics.median(
                    c - n for c, n in zip(v["classes"], v["none"], strict=True)), 3),
                f"classes_cost_p50_{clock}_ms": round(statistics.median(
                    c - m for c, m in zip(v["classes"], v["metrics"], strict=True)), 3)}
        result[kind] = figures
    return result


def main() -> None:
    args = parse_args()
    engine = setup_django(args)
    rng = random.Random(args.seed)
    load_before = os.getloadavg()
    started = time.perf_counter()
    from kehu.segments.models import SegmentRun

    if not (args.reuse and SegmentRun.objects.exists()):
        load(args, rng)
    loaded = round(time.perf_counter() - started, 1)
    import kehu

    print(f"code: {Path(kehu.__file__).parent}")
    result = {"engine": engine, "customers": args.customers,
              "orders": args.customers * args.orders_per_customer, "load_and_first_run_s": loaded,
              "load_average_before": load_before,
              **measure(args, rng)}
    suffix = ("-postgresql" if engine == "postgresql" else "") + (f"-cache{args.cache_mib}" if args.cache_mib else "")
    result["sqlite_cache_mib"] = args.cache_mib or None
    out = write_json(f"upkeep{suffix}.json", result)
    print(f"{engine}: {args.customers:,} customers, {result['orders']:,} orders; {args.writes:,} rounds, "
          f"{args.middle:.0%} of the orders in the middle of a history")
    print(f"  load average {result['load_average_before'][0]:.1f} before, {result['load_average'][0]:.1f} after "
          "(wall-clock includes waiting for a CPU, CPU time does not)")
    print(f"  one customer re-classified on its own: p50 {result['reclassify_one_p50_wall_ms']:.3f} ms wall, "
          f"{result['reclassify_one_p50_cpu_ms']:.3f} ms CPU")
    print("  p50 ms per order    none  metrics  classes | all upkeep  re-classification")
    for kind in KINDS:
        r = result[kind]
        for clock in ("wall", "cpu"):
            print(f"  {kind:<7} {clock:<5} " + " ".join(f"{r[f'{v}_p50_{clock}_ms']:8.3f}" for v in VARIANTS)
                  + f" | {r[f'upkeep_cost_p50_{clock}_ms']:+10.3f} {r[f'classes_cost_p50_{clock}_ms']:+18.3f}")
    print(f"  written to {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
