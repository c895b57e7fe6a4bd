"""No demo mobile number, e-mail or WeChat ID appears anywhere in the database file (or a pg_dump of it)."""

import json
import shutil
import subprocess

import pytest

from .cli import kehu, postgres_pass_only, sqlite_pass_only

CONTACTS_SCRIPT = """
import json
from kehu.customers.models import Customer
rows = [(c.mobile, c.email, c.wechat) for c in Customer.objects.all()]
print(json.dumps(rows))
"""


def plaintexts(env: dict) -> set[str]:
    rows = json.loads(kehu(env, "shell", "-c", CONTACTS_SCRIPT).stdout.strip().splitlines()[-1])
    values = {m[3:] for m, _, _ in rows if m} | {e for _, e, _ in rows if e} | {w for _, _, w in rows if w}
    assert len(values) > 100  # the demo really has contact details to leak
    return values


@sqlite_pass_only
def test_the_sqlite_file_holds_no_plaintext_contact_detail(demo_copy):
    secrets = plaintexts(demo_copy.env)
    # Everything the store holds, including what is still in the write-ahead log.
    raw = b"".join(p.read_bytes() for p in demo_copy.home.glob("kehu.sqlite3*"))
    assert b"KH000001" in raw  # the scan does see what is stored in clear
    leaked = [s for s in secrets if s.encode() in raw]
    assert leaked == []


@pytest.mark.skipif(not shutil.which("pg_dump"), reason="pg_dump is not installed")
@postgres_pass_only
def test_a_postgres_dump_holds_no_plaintext_contact_detail(demo_copy):
    secrets = plaintexts(demo_copy.env)
    url = demo_copy.database_url.replace("postgres://", "postgresql://")
    dump = subprocess.run(["pg_dump", "--data-only", url], capture_output=True, check=True).stdout
    assert b"KH000001" in dump
    assert [s for s in secrets if s.encode() in dump] == []
