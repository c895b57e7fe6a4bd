"""Run the real `kehu` command in a subprocess against a store of its own (a KEHU_HOME in tmp)."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

# `make test` runs the suite once on SQLite and once on PostgreSQL. A test that drives a store of its own in a
# subprocess proves the same thing in both passes, so it runs in the pass of its own database engine.
ON_POSTGRES = connection.vendor == "postgresql"
sqlite_pass_only = pytest.mark.skipif(ON_POSTGRES, reason="drives its own SQLite store; runs in the SQLite pass")
postgres_pass_only = pytest.mark.skipif(not ON_POSTGRES,
                                        reason="drives its own PostgreSQL store; runs in the PostgreSQL pass")

STATE_SCRIPT = """
import json
from kehu.customers.models import Customer, MergeRecord
from kehu.engagement.models import Communication, Feedback, FollowUp
from kehu.sales.models import Order, OrderLine
from kehu.accounts.models import User
counts = {m.__name__: m.objects.count() for m in (Customer, Order, OrderLine, Communication, FollowUp, Feedback, User)}
first = [(c.code, c.name, c.mobile, c.email, c.wechat, c.address, str(c.birthday), c.version)
         for c in Customer.objects.order_by("code")[:8]]
print(json.dumps({"counts": counts, "first": first}, ensure_ascii=False))
"""

MUTATE_SCRIPT = """
from kehu.customers.models import Customer
from kehu.engagement.models import Communication
c = Customer.objects.get(code="KH000001")
c.name = "改过的名字"
c.mobile = "+8613900000000"
c.save()
Customer.objects.filter(code__gt="KH000010").delete()
Communication.objects.all().delete()
"""


def env_for(home: Path, database_url: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("KEHU_DATABASE_URL", "KEHU_SECRET_KEY", "KEHU_DATA_KEY", "KEHU_DATA_KEY_FILE")}
    env["KEHU_HOME"] = str(home)
    env["DJANGO_SETTINGS_MODULE"] = "kehu.settings"
    if database_url:
        env["KEHU_DATABASE_URL"] = database_url
    return env


def kehu(env: dict, *args: str, check: bool = True, stdin: str = "") -> subprocess.CompletedProcess:
    run = subprocess.run([sys.executable, "-m", "kehu.cli", *args], env=env, capture_output=True, text=True,
                         input=stdin, timeout=300)
    if check and run.returncode:
        raise AssertionError(f"kehu {' '.join(args)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
    return run


def state(env: dict) -> dict:
    out = kehu(env, "shell", "-c", STATE_SCRIPT).stdout
    return json.loads(out.strip().splitlines()[-1])
