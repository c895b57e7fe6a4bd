"""Benchmark: the customer archive at scale.

Bulk-loads N synthetic customers (10 orders each) into a scratch store, then measures the server
time (p50/p95, in-process through the full Django stack) of the first customer-list page, a
filtered page, a deep key-set page and a search by mobile.

    .venv/bin/python bench/archive.py                          # 1,000,000 customers, SQLite
    .venv/bin/python bench/archive.py --customers 100000 --postgres postgres://postgres@127.0.0.1:5432/kehu_bench

Prints figures and writes bench/results/archive-<engine>.json. Never fails on a timing.
"""

import argparse
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PROVINCES = {
    "广东省": ["广州市", "深圳市", "佛山市", "东莞市"], "浙江省": ["杭州市", "宁波市", "温州市"],
    "江苏省": ["南京市", "苏州市", "无锡市"], "北京市": ["北京市"], "上海市": ["上海市"],
    "四川省": ["成都市", "绵阳市"], "湖北省": ["武汉市", "宜昌市"], "山东省": ["济南市", "青岛市", "烟台市"],
    "福建省": ["福州市", "厦门市"], "河南省": ["郑州市", "洛阳市"],
}
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华玉兰萍红鹏辉玲婷雪琳晨浩宇欣怡子涵梓轩"
PREFIXES = ["138", "139", "137", "136", "150", "151", "152", "158", "159", "186", "187", "188", "135", "177"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=1_000_000)
    p.add_argument("--orders-per-customer", type=int, default=10)
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and recreated)")
    p.add_argument("--repeat", type=int, default=30, help="requests per measured page")
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--load-only", action="store_true", help="load the store and stop (measure later with --home)")
    p.add_argument("--home", default="",
                   help="reuse the store an earlier run loaded with this KEHU_HOME (and the same --postgres): no load")
    return p.parse_args()


def setup_django(args: argparse.Namespace) -> str:
    home = Path(args.home) if args.home else Path(tempfile.mkdtemp(prefix="kehu-bench-"))
    print(f"KEHU_HOME={home}")
    os.environ["KEHU_HOME"] = str(home)
    if args.postgres and not args.home:
        import psycopg

        dbname = args.postgres.rsplit("/", 1)[1]
        admin_url = args.postgres.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')
    if args.postgres:
        os.environ["KEHU_DATABASE_URL"] = args.postgres
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return "postgresql" if args.postgres else "sqlite"


def mobile_for(i: int) -> str:
    return f"+86{PREFIXES[i % len(PREFIXES)]}{(i * 7919) % 100_000_000:08d}"


def load(args: argparse.Namespace) -> dict:
    """Insert customers and orders with the store's own encryption, in large batches."""
    from django.db import connection, transaction
    from tqdm import tqdm

    from kehu.accounts.models import Role, User
    from kehu.customers.models import Counter, mobile_last4_index
    from kehu.lib.crypto import blind_index, encrypt

    rng = random.Random(args.seed)
    owners = [User.objects.create_user(f"sales{i}", password="bench-pass-1", role=Role.SALES).pk for i in range(20)]
    User.objects.create_user("admin", password="bench-pass-1", role=Role.ADMIN, is_superuser=True)
    places = [(p, c) for p, cs in PROVINCES.items() for c in cs]
    now = datetime.now(UTC)
    cols = ("code", "name", "kind", "gender", "birthday", "mobile", "mobile_hash", "email", "email_hash", "wechat",
            "wechat_hash", "province", "city", "district", "address", "registered_at", "source", "company",
            "industry", "company_size", "grade", "owner_id", "notes", "extra", "version", "created_at", "updated_at",
            "age_band", "mobile_last4_hash")
    order_cols = ("customer_id", "number", "ordered_at", "amount", "payment_method", "sales_channel", "status",
                  "note", "created_at")
    batch = 20_000
    insert_customer = f"INSERT INTO customers_customer ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})"
    insert_order = f"INSERT INTO sales_order ({', '.join(order_cols)}) VALUES ({', '.join(['%s'] * len(order_cols))})"
    started = time.perf_counter()
    with connection.cursor() as cur:
        for start in tqdm(range(0, args.customers, batch), desc="客户 customers", unit_scale=batch):
            rows = []
            for i in range(start, min(start + batch, args.customers)):
                province, city = places[i % len(places)]
                mobile = mobile_for(i)
                wechat = f"wx_{i:07d}" if i % 3 == 0 else ""
                registered = now - timedelta(days=rng.randrange(1, 1500), seconds=rng.randrange(86400))
                rows.append((
                    f"KH{i + 1:07d}", rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN),
                    "company" if i % 5 == 0 else "person", rng.choice(("male", "female", "")), "",
                    encrypt(mobile), blind_index(mobile), "", "", encrypt(wechat) if wechat else "",
                    blind_index(wechat), province, city, "", "", registered, "门店", "", "", "",
                    rng.choice("ABCD"), rng.choice(owners), "", "{}", 1, now, now, "", mobile_last4_index(mobile),
                ))
            with transaction.atomic():
                cur.executemany(insert_customer, rows)
        Counter.objects.update_or_create(name="customer_code", defaults={"value": args.customers})
        customers_done = time.perf_counter()
        cur.execute("SELECT MIN(id) FROM customers_customer")
        first_id = cur.fetchone()[0]
        total_orders = args.customers * args.orders_per_customer
        per_batch = max(1, batch // max(1, args.orders_per_customer))
        for start in tqdm(range(0, args.customers, per_batch), desc="订单 orders", unit_scale=per_batch):
            rows = []
            for i in range(start, min(start + per_batch, args.customers)):
                for _ in range(args.orders_per_customer):
                    when = now - timedelta(days=rng.randrange(1, 900), seconds=rng.randrange(86400))
                    rows.append((first_id + i, "", when, f"{rng.lognormvariate(5, 1):.2f}", "wechat_pay", "store",
                                 "completed", "", now))
            with transaction.atomic():
                cur.executemany(insert_order, rows)
        cur.execute("ANALYZE")
    done = time.perf_counter()
    return {"customers": args.customers, "orders": total_orders,
            "load_customers_s": round(customers_done - started, 1), "load_orders_s": round(done - customers_done, 1)}


def fill_metrics() -> None:
    """The stored metrics and classes the list sorts by, straight from the orders in SQL (the bench loads orders
    without the signals): F, M, first/last order per customer, and a churn forecast spread over (0, 1) with
    one customer in 20 not fitted (null), so a sort meets ties and nulls as in a real store."""
    from django.db import connection
    from django.utils import timezone

    from kehu.segments.models import CustomerMetrics, CustomerSegment

    now = timezone.now()
    if not CustomerMetrics.objects.exists():
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO segments_customermetrics (customer_id, first_order_at, last_order_at, frequency, monetary,"
                " interval_sq_sum, categories, category_spend, top_category_id, top_category_spend, purchase_days,"
                " first_day_spend, updated_at) SELECT customer_id, MIN(ordered_at), MAX(ordered_at), COUNT(*),"
                " SUM(amount), 0, 0, 0, NULL, 0, COUNT(*), 0, %s FROM sales_order WHERE status = 'completed'"
                " GROUP BY customer_id", [now])
    if not CustomerSegment.objects.exists():
        classes = ("重要价值客户", "重要发展客户", "重要保持客户", "重要挽留客户",
                   "一般价值客户", "一般发展客户", "一般保持客户", "一般挽留客户")
        case = " ".join(f"WHEN {i} THEN '{c}'" for i, c in enumerate(classes))
        with connection.cursor() as cur:
            cur.execute(
                "INSERT INTO segments_customersegment (customer_id, as_of, recency_days, frequency, monetary,"
                " avg_order_value, spend_recent, spend_previous, trend, rfm_class, rf_segment, abc_class,"
                " frequency_tier, value_tier, lifecycle, overdue, category_loyalty, p_alive, clv, value_at_risk)"
                " SELECT customer_id, %s, 30, frequency, monetary, ROUND(monetary / frequency, 2), 0, 0, '',"
                f" CASE customer_id %% 8 {case} END, '', '', '', '', '活跃客户', FALSE, '',"
                " CASE WHEN customer_id %% 20 = 0 THEN NULL ELSE ((customer_id * 7919) %% 1000) / 1000.0 END,"
                " CASE WHEN customer_id %% 20 = 0 THEN NULL ELSE ROUND(monetary * 0.4, 2) END,"
                " CASE WHEN customer_id %% 20 = 0 THEN NULL"
                " ELSE ROUND(monetary * 0.4 * (1 - ((customer_id * 7919) %% 1000) / 1000.0), 2) END"
                " FROM segments_customermetrics", [now.date()])
            # as autovacuum would leave a settled store: statistics, and the visibility map index-only scans need
            cur.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def deep_cursor(field: str, descending: bool, fraction: float, segment: bool = False) -> str:
    """A cursor into a sorted list `fraction` of the way down (the non-null values; ties broken by id)."""
    from kehu.lib.pagination import encode_cursor
    from kehu.segments.models import CustomerMetrics, CustomerSegment

    model = CustomerSegment if segment else CustomerMetrics
    qs = model.objects.filter(**{f"{field}__isnull": False})
    order = [f"-{field}", "-customer_id"] if descending else [field, "customer_id"]
    value, pk = qs.order_by(*order).values_list(field, "customer_id")[int(qs.count() * fraction)]
    return encode_cursor(value, pk, "after")


def measure(args: argparse.Namespace) -> dict:
    from django.conf import settings
    from django.test import Client
    from django.urls import reverse

    from kehu.accounts.models import User
    from kehu.customers.models import Customer
    from kehu.lib.pagination import encode_cursor

    settings.ALLOWED_HOSTS = ["*"]
    client, rep = Client(), Client()
    client.force_login(User.objects.get(username="admin"))
    rep.force_login(User.objects.get(username="sales0"))  # a sales rep: own customers, mobiles masked
    url = reverse("customers:list")
    deep = Customer.objects.order_by("id").values_list("id", flat=True)[int(args.customers * 0.9)]
    cases = {
        "first page": {},
        "filtered page (广东省 · 深圳市)": {"province": "广东省", "city": "深圳市"},
        "filtered + owner + grade": {"owner": str(Customer.objects.values_list("owner_id", flat=True)[0]),
                                     "grade": "A"},
        "deep key-set page (90%)": {"cursor": encode_cursor(deep, deep, "after")},
        "search by mobile": {"q": mobile_for(args.customers // 2)[3:]},
        "search by a mobile's last 4 digits": {"q": mobile_for(args.customers // 2)[-4:]},
        "sorted by total spend": {"sort": "-total_spend"},
        "sorted by churn probability": {"sort": "-churn_probability"},
        "total spend, deep page (90%)": {"sort": "-total_spend", "cursor": deep_cursor("monetary", True, 0.9)},
        "churn probability, deep page (90%)": {"sort": "-churn_probability",
                                               "cursor": deep_cursor("p_alive", False, 0.9, segment=True)},
        "sorted by total spend, 广东省 · 深圳市": {"sort": "-total_spend", "province": "广东省", "city": "深圳市"},
        "sales rep: sorted by total spend": {"sort": "-total_spend"},
        "sales rep: sorted by churn probability": {"sort": "-churn_probability"},
    }
    results = {}
    for label, params in cases.items():
        who = rep if label.startswith("sales rep") else client
        who.get(url, params)  # warm
        times, cpu = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            response = who.get(url, params)
            times.append((time.perf_counter() - t) * 1000)
            cpu.append((time.process_time() - c) * 1000)
            assert response.status_code == 200, (label, response.status_code)
        times.sort()
        cpu.sort()
        # the server's own CPU time beside the wall time: on a shared machine the wall time includes waiting for
        # a core (see the load average printed with the figures)
        results[label] = {"p50_ms": round(statistics.median(times), 1),
                          "p95_ms": round(times[max(0, int(len(times) * 0.95) - 1)], 1),
                          "cpu_p95_ms": round(cpu[max(0, int(len(cpu) * 0.95) - 1)], 1)}
    mobile = mobile_for(args.customers // 3)
    times = []
    for _ in range(args.repeat):
        t = time.perf_counter()
        found = Customer.objects.by_mobile(mobile).first()
        times.append((time.perf_counter() - t) * 1000)
    assert found is not None
    times.sort()
    results["lookup by mobile (ORM only)"] = {"p50_ms": round(statistics.median(times), 2),
                                              "p95_ms": round(times[int(len(times) * 0.95) - 1], 2)}
    return results


def main() -> None:
    args = parse_args()
    engine = setup_django(args)
    if args.home:
        from kehu.customers.models import Customer

        args.customers = Customer.objects.count()
        loaded = {"customers": args.customers, "orders": "reused", "load_customers_s": "-", "load_orders_s": "-"}
    else:
        loaded = load(args)
    fill_metrics()
    if args.load_only:
        print("loaded; measure with --home and the same --postgres")
        return
    load_before = os.getloadavg()
    pages = measure(args)
    loadavg = {"before": [round(x, 2) for x in load_before], "after": [round(x, 2) for x in os.getloadavg()]}
    print(f"\nkehu archive benchmark — {engine}, {loaded['customers']:,} customers, {loaded['orders']} orders")
    print(f"  load: customers {loaded['load_customers_s']} s, orders {loaded['load_orders_s']} s")
    print(f"  load average (1, 5, 15 min) before {loadavg['before']}, after {loadavg['after']}")
    for label, r in pages.items():
        cpu = f"   CPU p95 {r['cpu_p95_ms']:>7} ms" if "cpu_p95_ms" in r else ""
        print(f"  {label:<34} p50 {r['p50_ms']:>8} ms   p95 {r['p95_ms']:>8} ms{cpu}")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    report = {"engine": engine, **loaded, "load_average": loadavg, "pages": pages}
    (out / f"archive-{engine}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
