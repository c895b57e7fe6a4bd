"""Personas and small factories shared by every test.

alice is the admin, mary the manager, sam a sales rep who owns some customers, sue from customer
service, and victor a read-only viewer.
"""

import datetime
import os
import shutil
from decimal import Decimal

import pytest
from django.utils import timezone

from kehu.accounts.models import Role, User
from kehu.customers.models import Customer
from kehu.sales.models import Order

PASSWORD = "correct-horse-42"


CHROMIUM = shutil.which("chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--disable-quic"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright, one per test process (the browser tests and the production path
    share it: a second sync Playwright in one process is refused). Skipped with a reason where Chromium is
    missing; CI sets KEHU_REQUIRE_BROWSER=1 to make that a failure."""
    if not CHROMIUM:
        reason = "Debian's Chromium is not installed (apt-get install -y chromium); browser tests need it"
        if os.environ.get("KEHU_REQUIRE_BROWSER"):
            pytest.fail(reason + " and KEHU_REQUIRE_BROWSER is set")
        pytest.skip(reason)
    # Playwright's sync API runs an event loop in this thread; the ORM calls in fixtures are still synchronous.
    os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def initialised_template(tmp_path_factory):
    """One store per test process after a real `kehu init` (admin `admin`, password harness.ADMIN_PASSWORD), on
    the engine of this pass; tests copy it (`Store.clone`) instead of paying for the migrations again."""
    from tests.production.harness import Store

    made = Store.create(tmp_path_factory.mktemp("template"))
    made.init()
    yield made
    made.drop()


@pytest.fixture
def ready_store(initialised_template, tmp_path):
    """A store as `kehu init` leaves it (admin `admin`, password harness.ADMIN_PASSWORD): a copy of a store
    initialised once per test process. Tests of `kehu init` itself use `store` and run it."""
    made = initialised_template.clone(tmp_path)
    yield made
    made.drop()


DEMO_CUSTOMERS = 150  # `kehu demo --customers 150 --seed 5` in demo_template


@pytest.fixture(scope="session")
def demo_template(initialised_template, tmp_path_factory):
    """`initialised_template` plus `kehu demo --customers 150 --seed 5`, once per test process."""
    made = initialised_template.clone(tmp_path_factory.mktemp("demo-template"))
    made.kehu("demo", "--customers", str(DEMO_CUSTOMERS), "--seed", "5", "-v", "0")
    yield made
    made.drop()


@pytest.fixture
def demo_copy(demo_template, tmp_path):
    """A store of this test's own holding the demo data of `demo_template` (its folder, and its database on
    PostgreSQL)."""
    made = demo_template.clone(tmp_path)
    yield made
    made.drop()


@pytest.fixture(autouse=True)
def _segment_runs_in_the_request(settings):
    """No worker runs beside an in-process test: a classification, a big export or a campaign's e-mails started
    from a page run in its request."""
    settings.KEHU_SEGMENT_BACKGROUND = False
    settings.KEHU_EXPORT_BACKGROUND = False
    settings.KEHU_CAMPAIGN_BACKGROUND = False


FAST_PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _fast_passwords(settings):
    """Argon2 costs about a quarter of a second of CPU per hash and per login, and in-process tests make and log
    in many users without testing hashing. Stores driven through `kehu` subprocesses (tests/production,
    tests/ops) keep the product's Argon2; a test of hashing itself asks for `real_password_hashing`."""
    settings.PASSWORD_HASHERS = FAST_PASSWORD_HASHERS


@pytest.fixture
def real_password_hashing(settings):
    """The product's password hashers (Argon2 first), for a test of hashing."""
    from kehu import settings as product_settings

    settings.PASSWORD_HASHERS = product_settings.PASSWORD_HASHERS


@pytest.fixture(autouse=True)
def _no_audit_backlog():
    """Audit entries a busy test database deferred (live-server tests on SQLite) die with their test: the
    writer thread must not carry them into the next test's database, nor write them at exit."""
    yield
    from kehu.accounts import audit

    audit.discard_deferred()


@pytest.fixture(autouse=True)
def _currency_forgotten():
    """The shop's currency is remembered a few seconds per process: a test that changed it (and rolled back)
    must not leave it to the next."""
    from kehu.accounts.models import ShopSettings

    ShopSettings.forget()
    yield
    ShopSettings.forget()


@pytest.fixture(autouse=True)
def _language_reset():
    """A test that switched the active language (a request in English, translation.activate) leaves the next
    test in the default language."""
    yield
    from django.utils import translation

    translation.deactivate()


def make_user(username: str, role: str, **extra) -> User:
    return User.objects.create_user(username=username, password=PASSWORD, role=role, **extra)


@pytest.fixture
def alice(db) -> User:
    return make_user("alice", Role.ADMIN, is_staff=True, is_superuser=True, last_name="王", first_name="丽")


@pytest.fixture
def mary(db) -> User:
    return make_user("mary", Role.MANAGER, last_name="马", first_name="丽")


@pytest.fixture
def sam(db) -> User:
    return make_user("sam", Role.SALES, last_name="孙", first_name="明")


@pytest.fixture
def sue(db) -> User:
    return make_user("sue", Role.SERVICE, last_name="苏", first_name="英")


@pytest.fixture
def victor(db) -> User:
    return make_user("victor", Role.VIEWER, last_name="魏", first_name="东")


def page_statements(captured) -> list[str]:
    """The SQL a page ran itself: the shared cache is a table of the store, and its reads and writes (with their
    savepoints and the brief busy timeout around them) are counted apart."""
    return [q["sql"] for q in captured.captured_queries if "kehu_cache" not in q["sql"]
            and not q["sql"].startswith(("PRAGMA", "SAVEPOINT", "RELEASE SAVEPOINT", "ROLLBACK TO"))]


def make_customer(**fields) -> Customer:
    defaults = {"name": "张三", "province": "广东省", "city": "深圳市"}
    return Customer.objects.create(**{**defaults, **fields})


def make_order(customer: Customer, amount: str = "100.00", days_ago: int = 1, **fields) -> Order:
    when = timezone.now() - datetime.timedelta(days=days_ago)
    return Order.objects.create(customer=customer, amount=Decimal(amount), ordered_at=when, **fields)


@pytest.fixture
def zhang(db, sam) -> Customer:
    """A customer owned by sam, with a known mobile."""
    return make_customer(name="张伟", mobile="+8613812345678", email="zhangwei@example.com",
                         wechat="zw_2024", owner=sam)


@pytest.fixture
def li(db) -> Customer:
    """A customer nobody owns."""
    return make_customer(name="李娜", mobile="+8613987654321", province="浙江省", city="杭州市")


DATABASE_FIXTURES = {"db", "transactional_db", "django_db_reset_sequences", "django_db_serialized_rollback",
                     "live_server"}
OWN_STORE_FOLDERS = ("tests/ops/", "tests/production/")  # drive a store of their own on the pass's engine


# The files whose tests take longest (30 s or more each on a 2-core machine: Spark, a live server under load,
# Chromium over many pages), longest first.
SLOWEST_FILES = ("tests/production/test_segment_spark.py", "tests/segments/test_engine_backends.py",
                 "tests/production/test_import_concurrency.py", "tests/production/test_currency.py",
                 "tests/production/test_round_trips.py", "tests/production/test_privacy_access.py",
                 "tests/production/test_import_orders.py", "tests/production/test_store_survives.py",
                 "tests/production/test_segment_runs.py")
SLOW_FOLDERS = (*OWN_STORE_FOLDERS, "tests/browser/")


def start_order(config, item) -> int:
    """Where a test starts: the slowest files first, then the folders of processes and browsers, then the rest.
    pytest-xdist's work stealing hands each worker a contiguous share and lets an idle one take the tail of the
    other's, so the long tests run early and the two workers end within a short test of each other."""
    path = str(item.path.relative_to(config.rootpath))
    if path in SLOWEST_FILES:
        return SLOWEST_FILES.index(path)
    return len(SLOWEST_FILES) + (0 if path.startswith(SLOW_FOLDERS) else 1)


def pytest_collection_modifyitems(config, items):
    """`make test` runs the suite on SQLite, then on PostgreSQL. A test that touches no database (the engine,
    parsers, the models' arithmetic) proves the same thing in both, so the PostgreSQL pass leaves it out. The
    tests then run longest first (start_order; the same order in every worker, as xdist requires)."""
    from django.db import connection

    items.sort(key=lambda item: start_order(config, item))  # stable: a file's tests stay together, in order
    if connection.vendor != "postgresql":
        return
    kept, left_out = [], []
    for item in items:
        path = str(item.path.relative_to(config.rootpath))
        fixtures = set(getattr(item, "fixturenames", ()))
        uses_database = DATABASE_FIXTURES & fixtures or item.get_closest_marker("django_db")
        (kept if uses_database or path.startswith(OWN_STORE_FOLDERS) else left_out).append(item)
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = kept


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_teardown(item):
    """Before a test's database goes away, let the audit backlog thread (entries a busy store deferred) finish:
    left running, it writes into the next test's database or holds a lock on SQLite's shared in-memory one."""
    from kehu.accounts import audit

    audit.settle_deferred(timeout=5)
    yield
