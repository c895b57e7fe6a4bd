"""Benchmark: what users wait for in segmentation, against an independent floor.

Builds a scratch store (a file-backed SQLite store in WAL mode under a fresh KEHU_HOME in /tmp, or the
PostgreSQL database of --postgres, dropped and created again), bulk-loads a seeded synthetic history
(customers, orders dated up to day D0, one order line with a category per order, 3 % refunded), then runs
what a shop runs, each `kehu segment` as its own process (wall clock, peak RSS of that process, stages):

  1. first build         `kehu segment --full --as-of D0` on the fresh store;
  2. a day of orders     0.3 % of customers buy on D1 (orders with 1–3 lines, saved one by one through the
                         order form and `save_order`, as the customer page does; 30 % of them dated in the
                         middle of the history, entered late): per-order upkeep = the median of per-order
                         differences between a save with the segment signals and the next save without;
  3. nightly run         `kehu segment --as-of D1` (the new day, after those orders: what the nightly jobs run
                         six nights a week);
  4. same-day re-run     `kehu segment --as-of D1` again (nothing changed);
  5. weekly check        `kehu segment --full --as-of D1` (the metrics rebuilt from all orders: the nightly
                         jobs' run once a week);
  6. next night          `kehu segment --as-of D2` (a new day without orders).

The floor, in the same run: the orders exported once to Parquet (not timed), then independent scripts, each
in its own process, compute R, F, M, the R/F/M quintile scores and the 8-class RFM as of D2 from that
Parquet, read included — plain Polars, DuckDB, and pandas (its Parquet read and datetime conversion
included). They follow the class definitions of kehu/segments/engine/classify.py and GLOSSARY, not kehu's
code; their results are compared customer by customer with the classes kehu stored (mismatches counted).

    .venv/bin/python bench/segments.py --customers 100000 --orders-per-customer 10          # SQLite
    .venv/bin/python bench/segments.py --customers 100000 --orders-per-customer 10 \\
        --postgres postgres://postgres@127.0.0.1:5432/kehu_bench

Needs the bench extra (pip install -e '.[bench]': pandas, pyarrow, duckdb). Prints a table and writes
bench/results/segments-<engine>-<customers>.json. Never fails on a timing. The scratch store is deleted at the
end unless --keep. The machine's 1-minute load average is recorded beside every figure.
"""

import argparse
import datetime as dt
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

HISTORY_DAYS = 3 * 365
# The 8-class RFM model as GLOSSARY and classify.py describe it: index = (M low) × 4 + (R low) × 2 + (F low).
CLASSES = ("重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户",
           "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户")
COMPARED = ("recency_days", "frequency", "monetary_cents", "r_score", "f_score", "m_score", "rfm_class")


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--orders-per-customer", type=float, default=10)
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and recreated)")
    p.add_argument("--day-share", type=float, default=0.003, help="share of customers buying on the new day")
    p.add_argument("--min-day-orders", type=int, default=400, help="at least this many orders on the new day")
    p.add_argument("--mid-history", type=float, default=0.3, help="share of the day's orders dated in the past")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--home-root", default=None, help="where the scratch KEHU_HOME is made (default: the temp dir)")
    p.add_argument("--keep", action="store_true", help="keep the scratch store (printed) instead of deleting it")
    p.add_argument("--results", type=Path, default=ROOT / "bench" / "results")
    return p.parse_args()


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


# --- the store ------------------------------------------------------------------------------------------

def setup_django(args: argparse.Namespace) -> tuple[str, Path]:
    os.umask(0o077)  # as the kehu command: the store is for this account's eyes only
    home = Path(tempfile.mkdtemp(prefix="kehu-bench-segments-", dir=args.home_root))
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
    return ("postgresql" if args.postgres else "sqlite"), home


def drop_store(args: argparse.Namespace, home: Path) -> None:
    from django.db import connection

    connection.close()
    if args.postgres:
        import psycopg

        dbname = args.postgres.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
    shutil.rmtree(home, ignore_errors=True)


def local_midnight_us(day: dt.date) -> int:
    from zoneinfo import ZoneInfo

    from django.conf import settings

    start = dt.datetime.combine(day, dt.time(), tzinfo=ZoneInfo(settings.TIME_ZONE))
    return int(start.timestamp()) * 1_000_000


def synthesize(args: argparse.Namespace, d0: dt.date):
    """Orders as a Polars frame: customer index, epoch µs (up to the end of local day D0), cents, refunded
    flag, category (1..20). A customer's weight is lognormal: some buy often, many rarely or never."""
    import numpy as np
    import polars as pl

    rng = np.random.default_rng(args.seed)
    n_orders = int(args.customers * args.orders_per_customer)
    weights = rng.lognormal(0, 1.2, args.customers)
    customer = rng.choice(args.customers, size=n_orders, p=weights / weights.sum())
    end_us = local_midnight_us(d0 + dt.timedelta(days=1)) - 1_000_000
    ordered_us = end_us - rng.integers(0, HISTORY_DAYS * 86_400, size=n_orders, dtype=np.int64) * 1_000_000
    cents = np.round(rng.lognormal(4.5, 1.0, n_orders) * 100).astype(np.int64)
    return pl.DataFrame({"customer": customer, "ordered_us": ordered_us, "cents": cents,
                         "refunded": rng.random(n_orders) < 0.03, "category": rng.integers(1, 21, size=n_orders)})


def _template(model, **values) -> dict:
    """Every concrete column of `model` (but the key) as the database would receive it for an object built
    with `values` and the model's defaults."""
    from django.db import connection

    obj = model(**values)
    return {f.column: f.get_db_prep_save(f.pre_save(obj, True), connection)
            for f in model._meta.concrete_fields if not f.primary_key or f.attname in values}


def _copy_text(value) -> str | None:
    """A value as COPY reads it (psycopg's Jsonb wrapper as its JSON)."""
    if value is None:
        return None
    if hasattr(value, "obj"):
        return json.dumps(value.obj, ensure_ascii=False)
    return str(value)


def _bulk(table: str, constants: dict, rows) -> None:
    """Insert a frame of varying columns plus `constants`: COPY on PostgreSQL, executemany on SQLite."""
    import io

    import polars as pl
    from django.db import connection, transaction

    columns = [*rows.columns, *(c for c in constants if c not in rows.columns)]
    with transaction.atomic(), connection.cursor() as cur:
        if connection.vendor == "postgresql":
            frame = rows.with_columns(pl.lit(_copy_text(v), pl.String).alias(c)
                                      for c, v in constants.items() if c not in rows.columns)
            buffer = io.BytesIO()
            frame.select(columns).write_csv(buffer, include_header=False, null_value="\\N")
            sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH (FORMAT csv, NULL '\\N')"
            with cur.cursor.copy(sql) as copy:
                copy.write(buffer.getbuffer())
            return
        fixed = tuple(v for c, v in constants.items() if c not in rows.columns)
        cur.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(['%s'] * len(columns))})",
                        [(*row, *fixed) for row in rows.iter_rows()])


def load(args: argparse.Namespace, orders) -> dict:
    """Customers, categories with one product each, orders and one line per order, in large batches (no signals:
    what an import of a shop's history leaves before its first `kehu segment --full`)."""
    import polars as pl
    from django.db import connection
    from tqdm import tqdm

    from kehu.customers.models import Counter, Customer
    from kehu.sales.models import Category, Order, OrderLine, Product
    from kehu.segments.pipeline import _datetime_text, _decimal_text

    started = time.perf_counter()
    categories = Category.objects.bulk_create([Category(name=f"品类{i:02d}") for i in range(1, 21)])
    Product.objects.bulk_create([Product(name=f"商品{c.pk}", category=c, price=Decimal("99.00")) for c in categories])
    category_ids = pl.Series([c.pk for c in categories])
    customer_constants = _template(Customer, code="", name="")
    batch = 100_000
    for start in tqdm(range(0, args.customers, batch), desc="客户 customers", unit_scale=batch):
        number = pl.int_range(start + 1, min(start + batch, args.customers) + 1, eager=True).cast(pl.String)
        _bulk(Customer._meta.db_table, customer_constants, pl.DataFrame({"n": number}).select(
            code=pl.concat_str(pl.lit("KH"), pl.col("n").str.zfill(7)), name=pl.concat_str(pl.lit("客户"), "n")))
    Counter.objects.update_or_create(name="customer_code", defaults={"value": args.customers})
    first_id = Customer.objects.order_by("id").values_list("id", flat=True).first()
    order_constants = _template(Order, customer_id=0, amount=Decimal("0"))
    line_constants = _template(OrderLine, order_id=0, product_name="商品", quantity=Decimal("1.00"),
                               unit_price=Decimal("0"))
    table = orders.with_row_index("id", offset=1).select(
        pl.col("id").cast(pl.Int64), (pl.col("customer") + first_id).alias("customer_id"),
        _datetime_text("ordered_us").alias("ordered_at"), _decimal_text("cents").alias("amount"),
        pl.when(pl.col("refunded")).then(pl.lit("refunded")).otherwise(pl.lit("completed")).alias("status"),
        pl.lit(category_ids).gather(pl.col("category") - 1).alias("category_id"),
    )
    for start in tqdm(range(0, len(table), 200_000), desc="订单 orders", unit_scale=200_000):
        chunk = table.slice(start, 200_000)
        _bulk(Order._meta.db_table, order_constants,
              chunk.select("id", "customer_id", "ordered_at", "amount", "status"))
        _bulk(OrderLine._meta.db_table, line_constants,
              chunk.select(pl.col("id").alias("order_id"), "category_id", pl.col("amount").alias("unit_price")))
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            cur.execute("SELECT setval(pg_get_serial_sequence('sales_order', 'id'), (SELECT MAX(id) FROM sales_order))")
            cur.execute("VACUUM ANALYZE")
        else:
            cur.execute("ANALYZE")
    return {"customers": args.customers, "orders": len(orders), "load_s": round(time.perf_counter() - started, 1)}


# --- `kehu segment` as its own process --------------------------------------------------------------------

def stamped_kehu(stamps: str, argv: list[str]) -> None:
    """Child process: `kehu <argv>` exactly as the entry point runs it, with the start of each stage of the
    segment run written to `stamps` (JSON) on the way out."""
    import django

    os.umask(0o077)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    django.setup()
    from kehu import cli
    from kehu.segments.management.commands import segment

    marks = []
    run = segment.refresh

    def refresh(day, progress=None, **options):
        marks.append(("开始 start", time.perf_counter()))

        def stamp(stage):
            marks.append((stage, time.perf_counter()))
            progress(stage)

        try:
            return run(day, progress=stamp, **options)
        finally:
            marks.append(("命令收尾 after the run", time.perf_counter()))

    segment.refresh = refresh
    sys.argv = ["kehu", *argv]
    try:
        cli.main()
    finally:
        marks.append(("结束 end", time.perf_counter()))
        stages = {name: round(marks[i + 1][1] - moment, 3) for i, (name, moment) in enumerate(marks[:-1])}
        Path(stamps).write_text(json.dumps(stages, ensure_ascii=False))


def measure_child(report: str, argv: list[str]) -> None:
    """Launcher process: run argv, then write its wall clock, exit code and peak RSS to `report`. Linux carries
    the RSS high-water mark of the process that forks over exec: this small launcher forks the measured
    process, so the big bench process's memory is not counted in it."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv)
    _, status, usage = os.wait4(proc.pid, 0)
    Path(report).write_text(json.dumps({"seconds": round(time.perf_counter() - started, 3),
                                        "cpu_s": round(usage.ru_utime + usage.ru_stime, 3),
                                        "peak_rss_mb": round(usage.ru_maxrss / 1024),
                                        "exit": os.waitstatus_to_exitcode(status)}))


def child(argv: list[str], log: Path, stdout: Path | None = None) -> dict:
    """Run argv in its own process (through the launcher); its wall clock, peak RSS, exit code, load average."""
    report = log.with_name(f"child-{os.getpid()}.json")
    report.unlink(missing_ok=True)
    before = load_average()
    with log.open("ab") as err, (stdout or log).open("ab") as out:
        err.write(f"\n$ {' '.join(argv)}\n".encode())
        err.flush()
        subprocess.run([sys.executable, __file__, "_measure", str(report), *argv], stdout=out, stderr=err,
                       check=False)
    result = json.loads(report.read_text()) if report.exists() else {"seconds": None, "peak_rss_mb": None,
                                                                      "exit": "launcher failed"}
    return result | {"load_before": before, "load_after": load_average()}


def compile_kehu() -> None:
    """Write the bytecode of kehu's modules before the timed runs, as an installed kehu has it from its first run
    on. Where PYTHONDONTWRITEBYTECODE is set (containers often set it) every run would otherwise compile about 90
    modules again, 0.15–0.25 s of each run."""
    import compileall

    import kehu

    compileall.compile_dir(Path(kehu.__file__).parent, quiet=1)


def kehu_segment(label: str, options: list[str], log: Path) -> dict:
    from django.db import connection

    connection.close()  # the parent holds nothing open while the run writes
    stamps = log.with_name(f"stamps-{os.getpid()}.json")
    stamps.unlink(missing_ok=True)
    result = child([sys.executable, __file__, "_kehu", str(stamps), "segment", *options, "--no-progress"], log)
    result["command"] = "kehu segment " + " ".join(options)
    result["stages_s"] = json.loads(stamps.read_text()) if stamps.exists() else {}
    print(f"  {label:<34} {result['seconds']:8.2f} s  CPU {result['cpu_s']:7.2f} s  "
          f"peak {result['peak_rss_mb']:>6} MB  "
          f"load {result['load_before']}→{result['load_after']}  exit {result['exit']}", flush=True)
    if result["exit"] != 0:   # a figure of a run that failed would mean nothing
        raise SystemExit(f"kehu segment {' '.join(options)} failed (exit {result['exit']}); see {log}")
    return result


# --- a day of orders, through the app's path ----------------------------------------------------------

SIGNALS = (("pre_save", "Order", "segments.remember_order"), ("post_save", "Order", "segments.order_saved"),
           ("pre_save", "OrderLine", "segments.remember_line"), ("post_save", "OrderLine", "segments.line_saved"))


def set_segment_signals(on: bool) -> None:
    from django.db.models import signals as django_signals

    from kehu.sales import models as sales
    from kehu.segments import signals

    if on:
        signals.connect()
        return
    for signal, sender, uid in SIGNALS:
        getattr(django_signals, signal).disconnect(sender=getattr(sales, sender), dispatch_uid=uid)


def order_post(rng: random.Random, moment: dt.datetime, products: list[int]) -> dict:
    """The POST of the customer page's order form: 1–3 lines of a product, amount left to the lines."""
    lines = rng.randint(1, 3)
    data = {"order-ordered_at": moment.strftime("%Y-%m-%dT%H:%M:%S"), "order-amount": "",
            "order-payment_method": "wechat_pay", "order-sales_channel": "store", "order-status": "completed",
            "order-number": "", "order-note": "", "lines-TOTAL_FORMS": str(lines), "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0", "lines-MAX_NUM_FORMS": "1000"}
    for i in range(lines):
        data |= {f"lines-{i}-product": str(rng.choice(products)), f"lines-{i}-product_name": "",
                 f"lines-{i}-quantity": str(rng.randint(1, 3)),
                 f"lines-{i}-unit_price": f"{rng.lognormvariate(4.0, 0.8):.2f}"}
    return data


def day_of_orders(args: argparse.Namespace, d1: dt.date) -> dict:
    """The new day's orders saved one by one as the customer page saves them (form, formset, save_order, no
    outer transaction), alternating with and without the segment signals in pairs (random order within a
    pair); returns the median of the per-pair differences and the medians of each."""
    from zoneinfo import ZoneInfo

    from django.conf import settings

    from kehu.customers.models import Customer
    from kehu.sales.forms import OrderForm, OrderLineFormSet, save_order
    from kehu.sales.models import Order, Product
    from kehu.segments.pipeline import refresh_customers

    rng = random.Random(args.seed + 1)
    zone = ZoneInfo(settings.TIME_ZONE)
    products = list(Product.objects.values_list("id", flat=True))
    ids = list(Customer.objects.values_list("id", flat=True))
    n = max(round(args.customers * args.day_share), args.min_day_orders)
    buyers = rng.sample(ids, n)
    start_of_day = dt.datetime.combine(d1, dt.time(9), tzinfo=zone)
    history_start = start_of_day - dt.timedelta(days=HISTORY_DAYS)

    def save(customer_id: int, on: bool) -> tuple[float, float]:
        mid = rng.random() < args.mid_history
        moment = (history_start + dt.timedelta(seconds=rng.randrange(HISTORY_DAYS * 86_400)) if mid
                  else start_of_day + dt.timedelta(seconds=rng.randrange(12 * 3600)))
        post = order_post(rng, moment.astimezone(zone).replace(tzinfo=None), products)
        customer = Customer.objects.get(pk=customer_id)
        set_segment_signals(on)
        t, cpu = time.perf_counter(), time.process_time()
        lines = OrderLineFormSet(post, prefix="lines", instance=Order())
        form = OrderForm(post, prefix="order", lines=lines)
        if not (form.is_valid() and lines.is_valid()):
            raise SystemExit(f"the order form refused the bench's order: {form.errors} {lines.errors}")
        save_order(form, lines, customer)
        return (time.perf_counter() - t) * 1000, (time.process_time() - cpu) * 1000

    before = load_average()
    with_signals, without, differences, cpu_differences, untracked = [], [], [], [], []
    try:
        for i in range(0, n - 1, 2):
            first_on = rng.random() < 0.5
            times = {}
            for customer_id, on in ((buyers[i], first_on), (buyers[i + 1], not first_on)):
                times[on] = save(customer_id, on)
                if not on:
                    untracked.append(customer_id)
            with_signals.append(times[True][0])
            without.append(times[False][0])
            differences.append(times[True][0] - times[False][0])
            cpu_differences.append(times[True][1] - times[False][1])
    finally:
        set_segment_signals(True)
    after = load_average()
    refresh_customers(untracked)  # as an import does for what it wrote without the signals
    return {"orders": 2 * len(differences), "pairs": len(differences), "mid_history_share": args.mid_history,
            "upkeep_median_ms": round(statistics.median(differences), 3),
            # CPU of this process: on SQLite all the work, on PostgreSQL without the server's share
            "upkeep_cpu_median_ms": round(statistics.median(cpu_differences), 3),
            "save_with_upkeep_median_ms": round(statistics.median(with_signals), 3),
            "save_without_upkeep_median_ms": round(statistics.median(without), 3),
            "load_before": before, "load_after": after}


# --- the floor --------------------------------------------------------------------------------------------

def export_orders(path: Path) -> int:
    """Every order (customer, UTC epoch µs, cents, status) from the store into one Parquet file (not timed)."""
    import io

    import polars as pl
    from django.db import connection

    schema = {"customer_id": pl.Int64, "ordered_us": pl.Int64, "amount_cents": pl.Int64, "status": pl.String}
    with connection.cursor() as cur:
        if connection.vendor == "postgresql":
            buffer = io.BytesIO()
            sql = ("COPY (SELECT customer_id, CAST(EXTRACT(EPOCH FROM ordered_at) * 1000000 AS BIGINT),"
                   " CAST(amount * 100 AS BIGINT), status FROM sales_order) TO STDOUT (FORMAT csv)")
            with cur.cursor.copy(sql) as copy:
                for block in copy:
                    buffer.write(block)
            buffer.seek(0)
            frame = pl.read_csv(buffer, has_header=False, schema=schema)
        else:  # Django stores 'YYYY-MM-DD HH:MM:SS[.ffffff]' in UTC
            cur.execute("SELECT customer_id, CAST(ordered_at AS TEXT), CAST(ROUND(amount * 100) AS INTEGER), status"
                        " FROM sales_order")
            frames = []
            while rows := cur.fetchmany(200_000):
                frames.append(pl.DataFrame(rows, schema={**schema, "ordered_us": pl.String}, orient="row"))
            text = pl.col("ordered_us").str.pad_end(26, "0").str.replace(r"^(.{19})0{7}$", "${1}.000000")
            frame = pl.concat(frames).with_columns(
                text.str.to_datetime("%Y-%m-%d %H:%M:%S%.f", time_unit="us", time_zone="UTC")
                .dt.epoch("us").alias("ordered_us"))
    frame.write_parquet(path)
    return len(frame)


def floor_polars(path: str, as_of: dt.date, zone: str):
    import polars as pl

    last_day = (pl.from_epoch("last_us", time_unit="us").dt.replace_time_zone("UTC").dt.convert_time_zone(zone)
                .dt.date())

    def score(column: str, descending: bool = False) -> pl.Expr:
        position = pl.col(column).rank("min", descending=descending).cast(pl.Int64) - 1
        return (position * 5 // pl.len() + 1).cast(pl.Int8)

    r_low = pl.col("recency_days") >= pl.col("recency_days").mean()
    f_low = pl.col("frequency") <= pl.col("frequency").mean()
    m_low = pl.col("monetary_cents") <= pl.col("monetary_cents").mean()
    code = m_low.cast(pl.Int8) * 4 + r_low.cast(pl.Int8) * 2 + f_low.cast(pl.Int8)
    return (
        pl.scan_parquet(path).filter(pl.col("status") == "completed")
        .group_by("customer_id")
        .agg(last_us=pl.col("ordered_us").max(), frequency=pl.len().cast(pl.Int64),
             monetary_cents=pl.col("amount_cents").sum())
        .with_columns(recency_days=(pl.lit(as_of) - last_day).dt.total_days())
        .with_columns(r_score=score("recency_days", descending=True), f_score=score("frequency"),
                      m_score=score("monetary_cents"), rfm_class=code.replace_strict(range(8), CLASSES))
        .drop("last_us")
        .collect()
    )


def floor_duckdb(path: str, as_of: dt.date, zone: str):
    import duckdb
    import polars as pl

    classes = "[" + ", ".join(f"'{c}'" for c in CLASSES) + "]"
    sql = f"""
        WITH per AS (
            SELECT customer_id, count(*) AS frequency, sum(amount_cents) AS monetary_cents,
                   $as_of - CAST(timezone($zone, to_timestamp(max(ordered_us) // 1000000)) AS DATE) AS recency_days
            FROM read_parquet($path) WHERE status = 'completed' GROUP BY customer_id
        ), scored AS (
            SELECT *, count(*) OVER () AS n,
                   (recency_days >= avg(recency_days) OVER ())::INT AS r_low,
                   (frequency <= avg(frequency) OVER ())::INT AS f_low,
                   (monetary_cents <= avg(monetary_cents) OVER ())::INT AS m_low,
                   rank() OVER (ORDER BY recency_days DESC) - 1 AS r_pos,
                   rank() OVER (ORDER BY frequency) - 1 AS f_pos,
                   rank() OVER (ORDER BY monetary_cents) - 1 AS m_pos
            FROM per
        )
        SELECT customer_id, recency_days, frequency, CAST(monetary_cents AS BIGINT) AS monetary_cents,
               CAST(r_pos * 5 // n + 1 AS TINYINT) AS r_score, CAST(f_pos * 5 // n + 1 AS TINYINT) AS f_score,
               CAST(m_pos * 5 // n + 1 AS TINYINT) AS m_score, {classes}[m_low * 4 + r_low * 2 + f_low + 1] AS rfm_class
        FROM scored"""
    conn = duckdb.connect()
    return pl.from_arrow(conn.sql(sql, params={"as_of": as_of, "zone": zone, "path": path}).to_arrow_table())


def floor_pandas(path: str, as_of: dt.date, zone: str):
    import numpy as np
    import pandas as pd
    import polars as pl

    orders = pd.read_parquet(path)
    orders = orders[orders["status"] == "completed"].assign(
        ordered_at=lambda o: pd.to_datetime(o["ordered_us"], unit="us", utc=True).dt.tz_convert(zone))
    rfm = orders.groupby("customer_id").agg(last=("ordered_at", "max"), frequency=("ordered_at", "size"),
                                            monetary_cents=("amount_cents", "sum"))
    rfm["recency_days"] = (pd.Timestamp(as_of) - rfm["last"].dt.tz_localize(None).dt.normalize()).dt.days
    n = len(rfm)
    rfm["r_score"] = ((rfm["recency_days"].rank(method="min", ascending=False) - 1) * 5 // n + 1).astype("int8")
    rfm["f_score"] = ((rfm["frequency"].rank(method="min") - 1) * 5 // n + 1).astype("int8")
    rfm["m_score"] = ((rfm["monetary_cents"].rank(method="min") - 1) * 5 // n + 1).astype("int8")
    code = ((rfm["monetary_cents"] <= rfm["monetary_cents"].mean()) * 4
            + (rfm["recency_days"] >= rfm["recency_days"].mean()) * 2 + (rfm["frequency"] <= rfm["frequency"].mean()))
    rfm["rfm_class"] = np.array(CLASSES, dtype=object)[code.to_numpy()]
    out = rfm.drop(columns="last").reset_index()
    return pl.from_pandas(out)


FLOORS = {"polars": floor_polars, "duckdb": floor_duckdb, "pandas": floor_pandas}


def floor_child(engine: str, path: str, as_of: str, zone: str, out: str) -> None:
    """Child process: one floor, timed from the Parquet read to the result in memory (imports not counted)."""
    import polars  # noqa: F401  (every floor hands back a Polars frame for the comparison)

    if engine == "duckdb":
        import duckdb  # noqa: F401
    if engine == "pandas":
        import pandas  # noqa: F401
    started, cpu = time.perf_counter(), time.process_time()
    result = FLOORS[engine](path, dt.date.fromisoformat(as_of), zone)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    result.write_parquet(out)
    print(json.dumps({"seconds": round(seconds, 3), "cpu_s": round(cpu, 3), "customers": len(result)}))


def run_floor(engine: str, parquet: Path, as_of: dt.date, log: Path) -> dict:
    from django.conf import settings

    out = parquet.with_name(f"floor-{engine}.parquet")
    report = parquet.with_name(f"floor-{engine}.json")
    report.unlink(missing_ok=True)
    result = child([sys.executable, __file__, "_floor", engine, str(parquet), as_of.isoformat(), settings.TIME_ZONE,
                    str(out)], log, stdout=report)
    if result["exit"] != 0:
        print(f"  floor {engine}: failed, see {log}")
        return {"failed": True}
    # seconds and CPU from the read to the result (the child's own clocks); process_*: with start-up and imports
    result |= {"process_s": result["seconds"], "process_cpu_s": result["cpu_s"], **json.loads(report.read_text()),
               "output": str(out)}
    print(f"  floor {engine:<28} {result['seconds']:8.2f} s  CPU {result['cpu_s']:7.2f} s  "
          f"peak {result['peak_rss_mb']:>6} MB  "
          f"load {result['load_before']}→{result['load_after']}", flush=True)
    return result


def stored_classes():
    """kehu's stored classes of buying customers (not timed)."""
    import polars as pl
    from django.db import connection

    cents = ("CAST(ROUND(monetary * 100) AS INTEGER)" if connection.vendor == "sqlite"
             else "CAST(monetary * 100 AS BIGINT)")
    schema = {"customer_id": pl.Int64, "last_order_day": pl.String, "frequency": pl.Int64,
              "monetary_cents": pl.Int64, "r_score": pl.Int8, "f_score": pl.Int8, "m_score": pl.Int8,
              "rfm_class": pl.String}
    frames = []
    with connection.cursor() as cur:
        cur.execute(f"SELECT customer_id, CAST(last_order_day AS TEXT), frequency, {cents}, r_score, f_score,"
                    " m_score, rfm_class FROM segments_customersegment WHERE rfm_class <> ''")
        while rows := cur.fetchmany(200_000):
            frames.append(pl.DataFrame(rows, schema=schema, orient="row"))
        cur.execute("SELECT CAST(as_of AS TEXT) FROM segments_segmentrun ORDER BY finished_at DESC LIMIT 1")
        as_of = dt.date.fromisoformat(cur.fetchone()[0])
    stored = pl.concat(frames) if frames else pl.DataFrame(schema=schema)
    # recency as of the latest run, from the stored last purchase day (a class row keeps no per-day values)
    return stored.select("customer_id", pl.lit(as_of.isoformat()).alias("as_of"),
                         (pl.lit(as_of) - pl.col("last_order_day").str.to_date()).dt.total_days().alias("recency_days"),
                         *(c for c in schema if c not in ("customer_id", "last_order_day")))


def mismatches(stored, floor) -> dict:
    """Customers whose values differ between kehu's stored classes and a floor, per column and in all."""
    import polars as pl

    joined = stored.join(floor.select("customer_id", *COMPARED), on="customer_id",
                         how="full", suffix="_floor", coalesce=True)
    differs = {c: (pl.col(c).cast(pl.String).ne_missing(pl.col(f"{c}_floor").cast(pl.String))) for c in COMPARED}
    counts = joined.select(**{c: e.sum() for c, e in differs.items()},
                           any=pl.any_horizontal(*differs.values()).sum(),
                           only_kehu=pl.col("frequency_floor").is_null().sum(),
                           only_floor=pl.col("frequency").is_null().sum()).row(0, named=True)
    return {k: int(v) for k, v in counts.items()}


# --- the run ---------------------------------------------------------------------------------------------

def table(results: dict) -> str:
    floor = results["floor_s"]
    lines = [f"{'':<36}{'seconds':>9}{'× floor':>9}{'CPU s':>9}{'peak MB':>9}   load (1 min)"]
    for key, label in (("first_build", "first build (--full, fresh store)"),
                       ("nightly", "nightly, new day after orders"), ("same_day_rerun", "same-day re-run"),
                       ("weekly_full", "weekly check (--full, same day)"), ("next_night", "next night, no orders")):
        r = results["runs"][key]
        ratio = f"{r['seconds'] / floor:9.1f}" if floor else f"{'—':>9}"
        lines.append(f"{label:<36}{r['seconds']:9.2f}{ratio}{r['cpu_s']:9.2f}{r['peak_rss_mb']:9}   "
                     f"{r['load_before']}→{r['load_after']}")
    for engine, r in results["floor"].items():
        if "seconds" in r:
            lines.append(f"{'floor: ' + engine + ' from Parquet':<36}{r['seconds']:9.2f}{r['seconds'] / floor:9.1f}"
                         f"{r['cpu_s']:9.2f}{r['peak_rss_mb']:9}   {r['load_before']}→{r['load_after']}")
    u = results["upkeep"]
    lines.append(f"per-order upkeep (median of {u['pairs']} pair differences): {u['upkeep_median_ms']} ms, "
                 f"CPU {u['upkeep_cpu_median_ms']} ms "
                 f"(save {u['save_with_upkeep_median_ms']} ms with, {u['save_without_upkeep_median_ms']} ms without; "
                 f"load {u['load_before']}→{u['load_after']})")
    for engine, m in results["mismatches"].items():
        lines.append(f"floor {engine} vs kehu's stored classes: {m['any']} customers differ {m}")
    return "\n".join(lines)


def main() -> None:
    args = parse_args()
    engine, home = setup_django(args)
    from django.conf import settings

    from kehu.lib.dates import today

    d2 = today()
    d1, d0 = d2 - dt.timedelta(days=1), d2 - dt.timedelta(days=2)
    args.results.mkdir(parents=True, exist_ok=True)
    log = home / "bench.log"
    print(f"KEHU_HOME={home} ({engine}); command output in {log}")
    results = {"engine": engine, "customers": args.customers, "orders_per_customer": args.orders_per_customer,
               "days": {"history_until": str(d0), "new_day": str(d1), "next_day": str(d2)}, "cpus": os.cpu_count(),
               "started": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"), "runs": {}}
    results |= load(args, synthesize(args, d0))
    print(f"loaded {results['customers']:,} customers, {results['orders']:,} orders in {results['load_s']} s "
          f"(load average {load_average()})")
    runs = results["runs"]
    compile_kehu()
    runs["first_build"] = kehu_segment("first build", ["--full", "--as-of", str(d0)], log)
    results["upkeep"] = day_of_orders(args, d1)
    u = results["upkeep"]
    print(f"  a day of orders: {u['orders']} saved, upkeep {u['upkeep_median_ms']} ms per order, CPU "
          f"{u['upkeep_cpu_median_ms']} ms (median of "
          f"{u['pairs']} pair differences)", flush=True)
    runs["nightly"] = kehu_segment("nightly, new day after orders", ["--as-of", str(d1)], log)
    runs["same_day_rerun"] = kehu_segment("same-day re-run", ["--as-of", str(d1)], log)
    runs["weekly_full"] = kehu_segment("weekly check (--full)", ["--full", "--as-of", str(d1)], log)
    runs["next_night"] = kehu_segment("next night, no orders", ["--as-of", str(d2)], log)

    parquet = home / "orders.parquet"
    results["exported_orders"] = export_orders(parquet)
    results["floor"] = {name: run_floor(name, parquet, d2, log) for name in FLOORS}
    stored = stored_classes()
    results["stored_as_of"] = sorted(set(stored["as_of"].to_list()))
    import polars as pl

    results["mismatches"] = {name: mismatches(stored.drop("as_of"), pl.read_parquet(r["output"]))
                             for name, r in results["floor"].items() if "output" in r}
    fast = [r["seconds"] for name, r in results["floor"].items() if name != "pandas" and "seconds" in r]
    results["floor_s"] = min(fast) if fast else None
    results["time_zone"] = settings.TIME_ZONE
    results["finished"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")

    print(f"\nkehu segments — {engine}, {args.customers:,} customers, {results['orders']:,} orders "
          f"(+{u['orders']} on the new day); floor = the faster of Polars and DuckDB")
    print(table(results))
    out = args.results / f"segments-{engine}-{args.customers}.json"
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2))
    print(f"written to {out}")
    if args.keep:
        print(f"store kept: KEHU_HOME={home}" + (f", database {args.postgres}" if args.postgres else ""))
    else:
        drop_store(args, home)


if __name__ == "__main__":
    if sys.argv[1:2] == ["_kehu"]:
        stamped_kehu(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ["_measure"]:
        measure_child(sys.argv[2], sys.argv[3:])
    elif sys.argv[1:2] == ["_floor"]:
        floor_child(*sys.argv[2:7])
    else:
        main()
