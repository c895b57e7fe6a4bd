"""Probe: do other people keep working while a big `kehu import` runs?

In a scratch KEHU_HOME (a SQLite file in WAL mode, or a PostgreSQL database with --postgres) it runs
`kehu init` and a small `kehu demo`, writes one workbook of 50,000 customers + 50,000 purchases, starts
`kehu serve`, starts `kehu import` as a subprocess and, while it runs, sends a mixed load from a few threads:
reads (customer list page, customer page, API list with a token) and writes (edit a customer through the API,
add a communication on the web page). It reports failures (must be 0: an exception, a 5xx or an unexpected
status; a 422 refusal of the data is counted apart) and latency percentiles per kind of request.

    .venv/bin/python bench/import_probe.py --label after
    .venv/bin/python bench/import_probe.py --label before --kehu /work/wt/probe-before/.venv/bin/kehu
    .venv/bin/python bench/import_probe.py --label after --postgres postgres://postgres@127.0.0.1:5432/kehu_probe

Writes bench/results/import-probe-LABEL-ENGINE.json. Never fails on a figure.
"""

import argparse
import json
import os
import random
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from datetime import date, timedelta
from pathlib import Path

import requests
from _output import write_json  # bench/_output.py (a script's folder is on sys.path)

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "Probe-Pass-2026"
PRODUCTS = {"连衣裙": "服装", "衬衫": "服装", "围巾": "配饰", "口红": "化妆品", "咖啡豆": "食品", "运动鞋": "鞋"}
PAYMENTS = ["微信", "支付宝", "现金", "银行卡"]


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--kehu", default=str(ROOT / ".venv" / "bin" / "kehu"), help="the kehu command to probe")
    p.add_argument("--label", default="after", help="names the result file (before, after…)")
    p.add_argument("--customers", type=int, default=50_000)
    p.add_argument("--orders", type=int, default=50_000)
    p.add_argument("--threads", type=int, default=4, help="load threads")
    p.add_argument("--pause", type=float, default=0.1, help="seconds each thread waits between requests")
    p.add_argument("--postgres", default="", help="a postgres:// URL of a scratch database (dropped and recreated)")
    p.add_argument("--seed", type=int, default=11)
    p.add_argument("--keep", action="store_true", help="keep the scratch KEHU_HOME")
    return p.parse_args()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def write_workbook(path: Path, customers: int, orders: int, rng: random.Random) -> None:
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    sheet = wb.create_sheet("客户信息")
    sheet.append(["会员号", "姓名", "手机号", "入会日期", "性别"])
    for i in range(customers):
        sheet.append([f"PRB{i + 1:06d}", f"探针客户{i + 1}", f"137{i:08d}", "2021-06-01", "女" if i % 2 else "男"])
    sheet = wb.create_sheet("消费记录")
    sheet.append(["会员号", "消费日期", "实付金额(元)", "购买商品", "品类", "支付方式"])
    products = list(PRODUCTS)
    for i in range(orders):
        product = products[i % len(products)]
        day = date(2023, 1, 1) + timedelta(days=rng.randrange(700))
        sheet.append([f"PRB{rng.randrange(customers) + 1:06d}", day.isoformat(),
                      round(rng.lognormvariate(5, 0.7), 2), product, PRODUCTS[product], PAYMENTS[i % len(PAYMENTS)]])
    wb.save(path)


def log_in(base: str) -> requests.Session:
    web = requests.Session()
    page = web.get(base + "/accounts/login/", timeout=60)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    answer = web.post(base + "/accounts/login/", data={"username": "admin", "password": PASSWORD,
                                                       "csrfmiddlewaretoken": token},
                      headers={"Referer": base + "/"}, allow_redirects=False, timeout=60)
    assert answer.status_code == 302, f"login failed ({answer.status_code})"
    return web


class Load:
    """Threads sending reads and writes until told to stop; every answer timed and checked."""

    def __init__(self, base: str, token: str, codes: list[str], threads: int, pause: float, seed: int):
        self.base, self.token, self.pause = base, token, pause
        self.stop = threading.Event()
        self.latencies: dict[str, list[float]] = defaultdict(list)
        self.failures: list[dict] = []
        self.refused: list[dict] = []
        self.lock = threading.Lock()
        # Each thread edits customers of its own, so two threads never conflict over one version.
        self.threads = [threading.Thread(target=self.run, args=(codes[n::threads], seed + n), daemon=True)
                        for n in range(threads)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def finish(self) -> None:
        self.stop.set()
        for t in self.threads:
            t.join()

    def timed(self, kind: str, send, url: str, expected: tuple[int, ...], **kwargs) -> requests.Response | None:
        started = time.perf_counter()
        try:
            answer = send(url, timeout=60, **kwargs)
        except requests.RequestException as exc:
            answer, problem = None, f"{type(exc).__name__}: {exc}"
        else:
            problem = "" if answer.status_code in expected else f"{answer.status_code}: {answer.text[:200]}"
        seconds = time.perf_counter() - started
        with self.lock:
            self.latencies[kind].append(seconds)
            if answer is not None and answer.status_code == 422:
                # The data's own answer, not the store's: the demo has customers sharing a mobile on purpose,
                # and an edit of one is refused as a duplicate. Counted apart from failures.
                self.refused.append({"kind": kind, "problem": problem})
                return None
            if problem:
                self.failures.append({"kind": kind, "at": time.time(), "seconds": round(seconds, 2),
                                      "problem": problem})
        return answer if not problem else None

    def run(self, codes: list[str], seed: int) -> None:
        rng = random.Random(seed)
        web = log_in(self.base)
        api = {"Authorization": f"Bearer {self.token}"}
        csrf = {"X-CSRFToken": web.cookies.get("csrftoken", ""), "Referer": self.base + "/"}
        while not self.stop.is_set():
            code = rng.choice(codes)
            kind = rng.choice(["list", "customer", "api_list", "edit", "communication"])
            if kind == "list":
                self.timed(kind, web.get, self.base + "/customers/", (200,))
            elif kind == "customer":
                self.timed(kind, web.get, f"{self.base}/customers/{code}/", (200,))
            elif kind == "api_list":
                self.timed(kind, requests.get, self.base + "/api/customers?limit=20", (200,), headers=api)
            elif kind == "edit":
                got = self.timed("api_get", requests.get, f"{self.base}/api/customers/{code}", (200,), headers=api)
                if got is not None:
                    body = {"version": got.json()["version"], "notes": f"探针备注 {rng.random():.6f}"}
                    self.timed(kind, requests.patch, f"{self.base}/api/customers/{code}", (200,), json=body,
                               headers=api)
            else:
                data = {"comm-occurred_at": time.strftime("%Y-%m-%dT%H:%M"), "comm-method": "phone",
                        "comm-content": "导入期间的电话回访", "comm-outcome": "已联系"}
                self.timed(kind, web.post, f"{self.base}/engagement/{code}/communications/add/", (200, 302),
                           data=data, headers=csrf)
            time.sleep(self.pause)


def percentile(values: list[float], q: float) -> float:
    if len(values) < 2:
        return values[0] if values else 0.0
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main() -> None:
    args = parse_args()
    home = Path(tempfile.mkdtemp(prefix="kehu-probe-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("KEHU_") and k != "DJANGO_SETTINGS_MODULE"}
    env.update(KEHU_HOME=str(home / "home"), PYTHONUNBUFFERED="1")
    engine = "sqlite"
    if args.postgres:
        import psycopg

        engine = "postgresql"
        name = args.postgres.rsplit("/", 1)[1]
        with psycopg.connect(args.postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        env["KEHU_DATABASE_URL"] = args.postgres

    def kehu(*command: str) -> str:
        return subprocess.run([args.kehu, *command], env=env, check=True, capture_output=True, text=True).stdout

    kehu("init", "--password", PASSWORD)
    kehu("demo", "--customers", "200", "--seed", "5")
    token = kehu("apitoken", "admin", "--name", "probe").strip().splitlines()[-1]
    workbook = home / "探针导入.xlsx"
    t = time.perf_counter()
    write_workbook(workbook, args.customers, args.orders, random.Random(args.seed))
    seconds = time.perf_counter() - t
    print(f"生成 {workbook.name}：{args.customers:,} 位客户 + {args.orders:,} 条消费记录，{seconds:.0f} s")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(home / "serve.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen([args.kehu, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if requests.get(base + "/accounts/login/", timeout=10).status_code == 200:
                    break
            except requests.RequestException:
                time.sleep(0.2)
        codes = [c["code"] for c in requests.get(base + "/api/customers?limit=200", timeout=60, headers={
            "Authorization": f"Bearer {token}"}).json()["items"]]
        load = Load(base, token, codes, args.threads, args.pause, args.seed)
        load.start()
        time.sleep(2)  # the load runs alone for a moment: a baseline in the same figures
        started = time.perf_counter()
        run = subprocess.run([args.kehu, "import", str(workbook), "--no-progress"], env=env, capture_output=True,
                             text=True)
        import_seconds = time.perf_counter() - started
        load.finish()
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
    figures = {kind: {"requests": len(values), "p50_ms": round(1000 * percentile(values, 50)),
                      "p95_ms": round(1000 * percentile(values, 95)), "max_ms": round(1000 * max(values))}
               for kind, values in sorted(load.latencies.items())}
    every = [x for values in load.latencies.values() for x in values]
    result = {
        "label": args.label, "engine": engine, "kehu": args.kehu, "customers": args.customers, "orders": args.orders,
        "threads": args.threads, "cpus": os.cpu_count(),
        "import": {"seconds": round(import_seconds, 1), "returncode": run.returncode,
                   "output": (run.stdout + run.stderr)[-1500:]},
        "requests": len(every), "failures": len(load.failures), "refused_422": len(load.refused),
        "p95_ms": round(1000 * percentile(every, 95)), "by_kind": figures,
        "failure_samples": load.failures[:10],
        "failures_by_problem": dict(sorted(
            {p: sum(1 for f in load.failures if f["problem"][:60] == p)
             for p in {f["problem"][:60] for f in load.failures}}.items())),
    }
    print(json.dumps({k: v for k, v in result.items() if k not in ("failure_samples",)}, ensure_ascii=False,
                     indent=2))
    out = write_json(f"import-probe-{args.label}-{engine}.json", result)
    print(f"写入 {out.relative_to(ROOT)}")
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)
    if args.postgres:
        import psycopg

        with psycopg.connect(args.postgres.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{args.postgres.rsplit("/", 1)[1]}" WITH (FORCE)')
    sys.exit(0)


if __name__ == "__main__":
    main()
