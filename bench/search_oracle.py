"""Re-run of the insider's oracle attempts of issue 11 against a live `kehu serve`.

A viewer sees a demo customer's mobile masked (138****8022) and tries to recover it:
  1. by searching every candidate for the hidden digits, `GET /api/customers?q=138NNNN8022&limit=1`;
  2. by the caller lookup (来电查询, `POST /api/customers/lookup`), which answers only so many times an hour.
A sales rep then tries the duplicate probe: an import dry run of --probe-rows numbers, --planted of which
belong to colleagues' customers, and reads the report for names and codes.

Prints how many searches were answered, how many revealed anything, the lookups possible per hour, and how
many audit entries each attempt left (with the number hashed, never in plaintext); writes
bench/results/search_oracle.json. Never fails on a timing.

    .venv/bin/python bench/search_oracle.py                       # 10,000 guesses, SQLite store
    .venv/bin/python bench/search_oracle.py --guesses 2000
"""

import argparse
import json
import os
import random
import re
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
KEHU = str(Path(sys.executable).with_name("kehu"))
PASSWORD = "Bench-oracle-2024"

SETUP = """
import json, random
from kehu.accounts.models import User
from kehu.customers.models import Customer
User.objects.create_user("vic", password="{password}", role="viewer")
rep = User.objects.create_user("sal", password="{password}", role="sales")
boss = User.objects.filter(role="manager").first() or User.objects.get(username="admin")
target = Customer.objects.create(name="刘秀英", mobile="+8613887408022", owner=boss)
rng = random.Random(11)
planted = []
while len(planted) < {planted}:
    m = "+86139%08d" % rng.randrange(10**8)
    if not Customer.objects.by_mobile(m).exists():
        c = Customer.objects.create(name="同事客户%d" % len(planted), mobile=m, owner=boss)
        planted.append([m[3:], c.name, c.code])
print(json.dumps({{"target": target.code, "planted": planted}}, ensure_ascii=False))
"""
AUDIT = """
import json
from collections import Counter
from kehu.accounts.models import AuditEntry
entries = list(AuditEntry.objects.filter(action__in=["search", "lookup", "duplicate"]))
text = json.dumps([[e.details, e.target_label, e.codes] for e in entries], ensure_ascii=False)
print(json.dumps({{"counts": Counter(f"{{e.username}}:{{e.action}}" for e in entries),
                  "plaintext": "{mobile}" in text}}))
"""


def kehu(env: dict, *args: str) -> str:
    run = subprocess.run([KEHU, *args], env=env, capture_output=True, text=True, check=True)
    return run.stdout


def log_in(base: str, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(base + "/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
    s.post(base + "/accounts/login/", data={"username": username, "password": PASSWORD,
                                            "csrfmiddlewaretoken": token}, allow_redirects=False)
    s.headers.update({"X-CSRFToken": s.cookies.get("csrftoken", ""), "Referer": base + "/"})
    return s


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--guesses", type=int, default=10_000, help="search guesses for the 4 hidden digits")
    p.add_argument("--lookups", type=int, default=100, help="caller lookups tried in a row")
    p.add_argument("--probe-rows", type=int, default=2040)
    p.add_argument("--planted", type=int, default=40)
    args = p.parse_args()

    home = Path(tempfile.mkdtemp(prefix="kehu-oracle-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KEHU_", "DJANGO_"))}
    env.update({"KEHU_HOME": str(home), "PYTHONUNBUFFERED": "1"})
    kehu(env, "init", "--password", PASSWORD)
    kehu(env, "demo", "--customers", "200", "--seed", "5", "-v", "0")
    world = json.loads(kehu(env, "shell", "-c", SETUP.format(password=PASSWORD, planted=args.planted))
                       .strip().splitlines()[-1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen([KEHU, "serve", "--host", "127.0.0.1", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    results: dict = {}
    try:
        for _ in range(300):
            try:
                requests.get(base + "/accounts/login/", timeout=5)
                break
            except requests.RequestException:
                time.sleep(0.1)
        viewer = log_in(base, "vic")
        # 1. the search oracle
        middles = list(range(10_000))
        random.Random(3).shuffle(middles)
        middles = sorted({*middles[:args.guesses - 1], 8740})
        start, hits = time.perf_counter(), 0
        for n in middles:
            answer = viewer.get(f"{base}/api/customers", params={"q": f"138{n:04d}8022", "limit": 1})
            hits += bool(answer.json()["items"])
        seconds = time.perf_counter() - start
        results.update(guesses=len(middles), search_seconds=round(seconds, 1),
                       searches_per_hour=round(len(middles) / seconds * 3600), search_hits=hits)
        # 2. the caller lookup
        statuses = []
        for i in range(args.lookups):
            mobile = "13887408022" if i == 20 else f"1388740{i:04d}"  # the right number among the first 30
            statuses.append(viewer.post(f"{base}/api/customers/lookup", json={"mobile": mobile}).status_code)
        results.update(lookups_tried=args.lookups, lookups_answered=sum(s != 429 for s in statuses),
                       lookups_refused=statuses.count(429), target_found=200 in statuses)
        # 3. the duplicate probe: an import dry run as the sales rep
        import openpyxl

        planted = {m for m, _, _ in world["planted"]}
        rng = random.Random(5)
        numbers = list(planted)
        while len(numbers) < args.probe_rows:
            numbers.append(f"137{rng.randrange(10**8):08d}")
        rng.shuffle(numbers)
        book = openpyxl.Workbook()
        book.active.append(["姓名", "手机"])
        for i, m in enumerate(numbers):
            book.active.append([f"探测{i}", m])
        path = home / "probe.xlsx"
        book.save(path)
        sales = log_in(base, "sal")
        printed = kehu(env, "import", str(path), "--user", "sal", "--dry-run", "--no-progress",
                       "--report", str(home / "report.xlsx"))
        report = "\n".join(str(v) for row in openpyxl.load_workbook(home / "report.xlsx").worksheets[-1]
                                     .iter_rows(values_only=True) for v in row if v is not None)
        names = [name for _, name, code in world["planted"]
                 if name in report + printed or code in report + printed]
        results.update(probe_rows=len(numbers), planted=len(planted), names_or_codes_revealed=len(names),
                       hidden_hits_reported=report.count("已属于另一位同事的客户"),
                       rows_refused_past_limit=report.count("查重提示已达每小时上限"))
        page = sales.post(f"{base}/customers/new/", data={"name": "x", "kind": "person", "mobile": "13887408022",
                                                          "registered_at": "2024-05-01T10:00"})
        results["form_names_customer"] = "刘秀英" in page.text or world["target"] in page.text
    finally:
        server.terminate()
        server.wait(10)
    audit = json.loads(kehu(env, "shell", "-c", AUDIT.format(mobile="13887408022")).strip().splitlines()[-1])
    results["audit"] = audit["counts"]
    results["audit_holds_plaintext"] = audit["plaintext"]
    print(json.dumps(results, ensure_ascii=False, indent=2))
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "search_oracle.json").write_text(json.dumps(results, ensure_ascii=False, indent=2))


if __name__ == "__main__":
    main()
