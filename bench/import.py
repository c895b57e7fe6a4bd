"""Benchmark: spreadsheet import at scale.

In a scratch store: imports a customers CSV (through CustomerForm, row by row), then an xlsx of
100,000 purchase rows and a CSV of 1,000,000 purchase rows naming those customers, and prints rows/s.
Aims (issue 4): 100k purchase rows ≤ 30 s, the 1M-row CSV ≤ 3 min.

    .venv/bin/python bench/import.py                      # SQLite
    .venv/bin/python bench/import.py --big 200000         # a smaller "big" CSV
    .venv/bin/python bench/import.py --postgres postgres://postgres@127.0.0.1:5432/kehu_bench_import

Writes bench/results/import.json (import-postgresql.json on PostgreSQL). Never fails on a timing.
"""

import argparse
import csv
import json
import os
import platform
import random
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

PAYMENTS = ["微信", "支付宝", "现金", "银行卡", "微信支付"]
PRODUCTS = ["连衣裙", "衬衫", "牛仔裤", "围巾", "口红", "面霜", "咖啡豆", "绿茶", "运动鞋", "背包"]
CATEGORIES = {"连衣裙": "服装", "衬衫": "服装", "牛仔裤": "服装", "围巾": "配饰", "口红": "化妆品",
              "面霜": "化妆品", "咖啡豆": "食品", "绿茶": "食品", "运动鞋": "鞋", "背包": "配饰"}
HEADER = ["会员号", "消费日期", "实付金额(元)", "购买商品", "品类", "支付方式"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=5000)
    p.add_argument("--purchases", type=int, default=100_000, help="rows in the purchases xlsx")
    p.add_argument("--big", type=int, default=1_000_000, help="rows in the big purchases CSV (0 to skip)")
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and recreated)")
    p.add_argument("--seed", type=int, default=7)
    return p.parse_args()


def setup_django(args: argparse.Namespace) -> str:
    home = Path(tempfile.mkdtemp(prefix="kehu-bench-import-"))
    os.environ["KEHU_HOME"] = str(home)
    if args.postgres:
        import psycopg

        dbname = args.postgres.rsplit("/", 1)[1]
        admin_url = args.postgres.rsplit("/", 1)[0] + "/postgres"
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}"')
            conn.execute(f'CREATE DATABASE "{dbname}"')
        os.environ["KEHU_DATABASE_URL"] = args.postgres
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return "postgresql" if args.postgres else "sqlite"


def purchase_rows(n: int, customers: int, rng: random.Random):
    start = date(2022, 1, 1)
    for i in range(n):
        product = PRODUCTS[i % len(PRODUCTS)]
        day = start + timedelta(days=rng.randrange(0, 1000))
        yield [f"VIP{rng.randrange(customers) + 1:06d}", day.strftime("%Y/%-m/%-d"),
               f"{rng.lognormvariate(5, 0.8):.2f}", product, CATEGORIES[product], PAYMENTS[i % len(PAYMENTS)]]


def write_customers_csv(path: Path, n: int) -> None:
    with open(path, "w", encoding="utf-8-sig", newline="") as f:
        w = csv.writer(f)
        w.writerow(["会员号", "姓名", "手机号", "入会日期", "性别"])
        for i in range(n):
            w.writerow([f"VIP{i + 1:06d}", f"客户{i + 1}", f"139{i:08d}", "2021-06-01", "女" if i % 2 else "男"])


def write_purchases_xlsx(path: Path, n: int, customers: int, rng: random.Random) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet("消费记录")
    ws.append(HEADER)
    for row in purchase_rows(n, customers, rng):
        row[2] = float(row[2])
        ws.append(row)
    wb.save(path)


def write_purchases_csv(path: Path, n: int, customers: int, rng: random.Random) -> None:
    with open(path, "w", encoding="gbk", newline="") as f:
        w = csv.writer(f)
        w.writerow(HEADER)
        w.writerows(purchase_rows(n, customers, rng))


def timed_import(path: Path, user, rows: int, label: str) -> dict:
    from kehu.exchange.importer import import_file

    started = time.perf_counter()
    result = import_file(path, user=user)
    seconds = time.perf_counter() - started
    counts = {k: vars(c) for k, c in result.counts.items()}
    figure = {"file": path.name, "rows": rows, "seconds": round(seconds, 1), "rows_per_s": round(rows / seconds),
              "counts": counts, "problems": len(result.problems)}
    print(f"{label}: {rows:,} 行 {seconds:.1f} s，{rows / seconds:,.0f} 行/秒  {counts}")
    return figure


def main() -> None:
    args = parse_args()
    engine = setup_django(args)
    from kehu.accounts.models import Role, User

    rng = random.Random(args.seed)
    admin = User.objects.create_user("admin", password="bench-pass-1", role=Role.ADMIN)
    work = Path(tempfile.mkdtemp(prefix="kehu-bench-files-"))
    results: dict = {"engine": engine, "python": platform.python_version(), "machine": platform.machine(),
                     "cpus": os.cpu_count()}

    customers_csv = work / "会员.csv"
    write_customers_csv(customers_csv, args.customers)
    results["customers_csv"] = timed_import(customers_csv, admin, args.customers, "客户 CSV（逐行经 CustomerForm）")

    t = time.perf_counter()
    xlsx = work / "消费记录.xlsx"
    write_purchases_xlsx(xlsx, args.purchases, args.customers, rng)
    print(f"（生成 {xlsx.name} 用时 {time.perf_counter() - t:.1f} s）")
    results["purchases_xlsx"] = timed_import(xlsx, admin, args.purchases, "消费记录 xlsx")
    results["purchases_xlsx"]["aim_seconds"] = 30

    t = time.perf_counter()
    again = timed_import(xlsx, admin, args.purchases, "同一 xlsx 再次导入（应全部未变）")
    results["purchases_xlsx_reimport"] = again

    if args.big:
        big = work / "消费记录-大.csv"
        write_purchases_csv(big, args.big, args.customers, rng)
        print(f"（生成 {big.name}，{big.stat().st_size / 1e6:.0f} MB，GBK 编码）")
        results["purchases_csv_big"] = timed_import(big, admin, args.big, "消费记录 CSV（大）")
        results["purchases_csv_big"]["aim_seconds"] = 180

    out_dir = ROOT / "bench" / "results"
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / ("import.json" if engine == "sqlite" else f"import-{engine}.json")
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2) + "\n")
    print(f"写入 {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
