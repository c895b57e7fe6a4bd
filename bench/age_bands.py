"""Benchmark: what keeping the stored age bands (Customer.age_band) costs (issue 12, item 7).

Builds a scratch SQLite store under a temporary KEHU_HOME, bulk-loads N customers (80 % with a birthday, encrypted as
always), then times:

  * the refresh on the day the bands were computed (`refresh_age_bands()`, as a same-day `kehu segment` runs it),
  * the nightly refresh of the next day and of the day after (`refresh_age_bands(as_of=…)`: the customers whose
    birthday has come round),
  * edited boundaries, every band changing (`SegmentSettings.store_age_bands()`),
  * the data of the 年龄与性别 page (one GROUP BY over the stored bands, no birthday decrypted).

    .venv/bin/python bench/age_bands.py                    # 100,000 customers

Prints the figures and writes bench/results/age_bands.json. Never fails on a timing.
"""

import argparse
import datetime as dt
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--customers", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=1)
    args = p.parse_args()
    home = tempfile.mkdtemp(prefix="kehu-bench-age-bands-")
    os.environ["KEHU_HOME"] = home
    os.environ.pop("KEHU_DATABASE_URL", None)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kehu.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from kehu.customers.models import Customer, refresh_age_bands
    from kehu.lib.ages import AgeBands
    from kehu.segments import reports
    from kehu.segments.models import SegmentSettings

    rng = random.Random(args.seed)
    batch = []
    for i in range(args.customers):
        birthday = dt.date(rng.randint(1950, 2008), rng.randint(1, 12), rng.randint(1, 28)) if rng.random() < 0.8 \
            else None
        customer = Customer(code=f"B{i:07d}", name=f"客户{i}", gender=rng.choice(["male", "female", ""]),
                            birthday=birthday)
        customer.refresh_search_hashes()
        customer.refresh_age_band()
        batch.append(customer)
        if len(batch) == 5000:
            Customer.objects.bulk_create(batch)
            batch = []
    Customer.objects.bulk_create(batch)
    birthdays = Customer.objects.filter(birthday__isnull=False).count()

    def timed(fn):
        start = time.perf_counter()
        result = fn()
        return result, round(time.perf_counter() - start, 2)

    unchanged, same_day = timed(refresh_age_bands)
    tomorrow = dt.date.today() + dt.timedelta(days=1)
    next_changed, nightly = timed(lambda: refresh_age_bands(as_of=tomorrow))
    after_changed, after = timed(lambda: refresh_age_bands(as_of=tomorrow + dt.timedelta(days=1)))
    changed, edited = timed(lambda: SegmentSettings.store_age_bands(AgeBands((30, 50))))
    SegmentSettings.store_age_bands(AgeBands())
    report = reports.Report(reports.Scope(), None, {"bands": "25,35,45,55", "links": ""})
    _data, page = timed(lambda: reports.demographics(report))
    figures = {"customers": args.customers, "birthdays": birthdays, "same_day_refresh_s": same_day,
               "same_day_changed": unchanged, "nightly_refresh_s": nightly, "nightly_changed": next_changed,
               "second_night_refresh_s": after, "second_night_changed": after_changed,
               "edited_bands_s": edited, "edited_changed": changed, "page_data_s": page}
    print(f"{args.customers:,} customers, {birthdays:,} with a birthday (SQLite)")
    print(f"refresh on the same day: {same_day} s ({unchanged} bands changed)")
    print(f"nightly refresh, next day: {nightly} s ({next_changed} bands changed); the day after: {after} s"
          f" ({after_changed} changed)")
    print(f"edited boundaries: {edited} s ({changed:,} bands changed)")
    print(f"年龄与性别 page data: {page} s")
    out = ROOT / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "age_bands.json").write_text(json.dumps(figures, indent=2))
    shutil.rmtree(home)


if __name__ == "__main__":
    main()
