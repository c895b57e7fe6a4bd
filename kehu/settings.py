"""One settings module, read from the environment (KEHU_*).

KEHU_HOME holds everything a shop owns on disk: the SQLite store, the keys and the backups.
Keys are generated into KEHU_HOME the first time they are needed, unless given by environment.
"""

import hashlib
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url

BASE_DIR = Path(__file__).resolve().parent


def envbool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


KEHU_HOME = Path(os.environ.get("KEHU_HOME", "kehu-data")).resolve()


def envsecret(name: str, filename: str) -> str:
    """The secret from $NAME, else $NAME_FILE, else KEHU_HOME/filename (created once, mode 600)."""
    if os.environ.get(name):
        return os.environ[name]
    path = Path(os.environ.get(f"{name}_FILE", KEHU_HOME / filename))
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another process created it first
        else:
            with os.fdopen(fd, "w") as f:
                f.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


SECRET_KEY = envsecret("KEHU_SECRET_KEY", "secret.key")
# Key for contact fields encrypted at rest (AES-GCM) and their keyed search hashes.
KEHU_DATA_KEY = envsecret("KEHU_DATA_KEY", "data.key")

DEBUG = envbool("KEHU_DEBUG")
# Tests get "testserver" from Django's test set-up (pytest-django); it is not a host kehu answers to.
ALLOWED_HOSTS = os.environ.get("KEHU_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]").split(",")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("KEHU_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django_htmx",
    "template_partials",
    "axes",
    "ninja",
    "django_tasks",
    "django_tasks_db",
    "kehu.accounts",
    "kehu.customers",
    "kehu.sales",
    "kehu.engagement",
    "kehu.segments",
    "kehu.marketing",
    "kehu.api",
    "kehu.exchange",
    "kehu.web",
    "kehu.ops",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "kehu.web.middleware.PrivateResponseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "kehu.web.middleware.ChosenLanguageMiddleware",
    "kehu.web.middleware.UploadLimitMiddleware",  # before anything reads the body (CSRF reads the form)
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "kehu.accounts.audit.AuditMiddleware",
]

ROOT_URLCONF = "kehu.urls"
WSGI_APPLICATION = "kehu.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# Hostile or mistaken files: an upload larger than KEHU_UPLOAD_MAX_MB is refused with a 413 page before its body
# is read (waitress refuses bodies a little larger on its own); a workbook (xlsx/ods are zip files) that would
# unzip to more than KEHU_UNZIPPED_MAX_MB is refused before anything is decompressed; a sheet with more rows or
# columns than the import limits is refused with a message saying how to split it.

KEHU_UPLOAD_MAX_MB = envint("KEHU_UPLOAD_MAX_MB", 50)
KEHU_UNZIPPED_MAX_MB = envint("KEHU_UNZIPPED_MAX_MB", 1000)
KEHU_IMPORT_MAX_ROWS = envint("KEHU_IMPORT_MAX_ROWS", 2_000_000)
KEHU_IMPORT_MAX_COLUMNS = envint("KEHU_IMPORT_MAX_COLUMNS", 1000)

# How long a write on SQLite waits for another writer before failing with "database is locked".
KEHU_SQLITE_BUSY_TIMEOUT_MS = envint("KEHU_SQLITE_BUSY_TIMEOUT_MS", 20_000)
# A classification reads a table of at least this many rows of a SQLite store in a child process (0: never);
# see kehu/lib/sqlite_child.py.
KEHU_SQLITE_CHILD_READ_ROWS = envint("KEHU_SQLITE_CHILD_READ_ROWS", 300_000)
# PostgreSQL: statements run for every order are prepared once per connection (off behind a transaction pooler).
KEHU_PG_PREPARE = envbool("KEHU_PG_PREPARE", True)
DATABASE_URL = os.environ.get("KEHU_DATABASE_URL") or f"sqlite:///{KEHU_HOME / 'kehu.sqlite3'}"
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers work while one writer writes; IMMEDIATE avoids upgrade deadlocks. Long writers
        # (imports, reverts) commit in short chunks, so a writer waits at most a chunk or two; the wait allowed is
        # generous so that a slow disk or a busy moment delays a save instead of failing it.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; "
                        f"PRAGMA busy_timeout={KEHU_SQLITE_BUSY_TIMEOUT_MS};",
        "transaction_mode": "IMMEDIATE",
    }
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("KEHU_TEST_SQLITE_NAME")}
else:
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("KEHU_TEST_DATABASE_NAME", "test_kehu")}

# One cache for every app process of the store (pages, reports, filter menus, health): the database's own table
# by default, Redis when KEHU_REDIS_URL is set (its keys prefixed per store, so stores may share one Redis).
REDIS_URL = os.environ.get("KEHU_REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
        "KEY_PREFIX": "kehu-" + hashlib.sha256(DATABASE_URL.encode()).hexdigest()[:12],
    }}
else:
    CACHES = {"default": {"BACKEND": "kehu.lib.cache.StoreCache", "LOCATION": "kehu_cache",
                          "OPTIONS": {"MAX_ENTRIES": 5000}}}

# Background jobs (web imports): queued in the store's own database and run by `kehu worker` (which `kehu serve`
# starts beside itself unless --no-worker), so any server process shows their progress. "immediate" runs a job in
# the request that starts it (tests on an in-memory database: KEHU_IMPORT_BACKGROUND = False).
TASKS = {
    "default": {"BACKEND": "django_tasks_db.DatabaseBackend", "QUEUES": ["default"]},
    "immediate": {"BACKEND": "django_tasks.backends.immediate.ImmediateBackend", "QUEUES": ["default"]},
}

# Classifications started from a page run on that worker too (tests on an in-memory database: KEHU_SEGMENT_BACKGROUND
# = False runs them in the request).
# Nightly jobs (classification with the metrics rebuilt, follow-ups, backup keeping 14, health), run once a day at this
# local time (TIME_ZONE) by a `kehu worker`: "HH:MM", or "off" (then schedule `kehu segment --full` etc. with cron, see
# the README). A worker that starts after that time on a day they have not run yet (a laptop off at night) runs them
# at once.
KEHU_NIGHTLY = os.environ.get("KEHU_NIGHTLY", "02:15")

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [  # every path that sets a password: see kehu/accounts/credentials.py
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 10}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

# Login lock-out (django-axes, rules in kehu/accounts/lockout.py): N failures for one user name from one
# address lock that name from that address; attempts during a lock-out do not extend it; a user name with
# KEHU_USER_FAILURE_LIMIT failures from all addresses together, and an address with KEHU_ADDRESS_FAILURE_LIMIT
# failures (logins and API tokens, any user names), wait as well.
AXES_FAILURE_LIMIT = envint("KEHU_LOGIN_FAILURE_LIMIT", 5)
KEHU_ADDRESS_FAILURE_LIMIT = envint("KEHU_ADDRESS_FAILURE_LIMIT", 20)
KEHU_USER_FAILURE_LIMIT = envint("KEHU_USER_FAILURE_LIMIT", 25)  # one user name, all addresses together
AXES_COOLOFF_TIME = timedelta(minutes=envint("KEHU_LOGIN_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HANDLER = "kehu.accounts.lockout.LockoutHandler"
AXES_CLIENT_IP_CALLABLE = "kehu.accounts.lockout.client_address"
AXES_ENABLE_ADMIN = False  # lock-outs are lifted on kehu's users page (系统设置 → 用户与角色) or with `kehu unlock`
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_VERBOSE = False

# Which roles see contact fields (mobile, e-mail, WeChat, address, birthday) in full.
KEHU_CONTACT_ROLES = os.environ.get("KEHU_CONTACT_ROLES", "admin,manager,service").split(",")
KEHU_AUDIT_RETENTION_DAYS = envint("KEHU_AUDIT_RETENTION_DAYS", 730)  # audit log entries kept this long
# 来电查询 (caller lookup by exact mobile) and duplicate checks that hit a colleague's customer:
# at most this many per user per hour (see kehu/customers/probes.py).
KEHU_LOOKUPS_PER_HOUR = envint("KEHU_LOOKUPS_PER_HOUR", 30)
KEHU_DUPLICATE_PROBES_PER_HOUR = envint("KEHU_DUPLICATE_PROBES_PER_HOUR", 30)

# Django's own admin: kept for superusers (kehu's admins) to look into data, at a path nothing links to; kehu's
# settings pages live under /settings/. Empty turns it off.
KEHU_ADMIN_PATH = os.environ.get("KEHU_ADMIN_PATH", "_admin/").strip("/")

# Campaign e-mail (营销邮件) goes out through this SMTP server.
EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
EMAIL_HOST = os.environ.get("KEHU_SMTP_HOST", "localhost")
EMAIL_PORT = envint("KEHU_SMTP_PORT", 25)
EMAIL_HOST_USER = os.environ.get("KEHU_SMTP_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("KEHU_SMTP_PASSWORD", "")
EMAIL_USE_TLS = envbool("KEHU_SMTP_TLS")
DEFAULT_FROM_EMAIL = os.environ.get("KEHU_SMTP_FROM", "kehu@localhost")

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = os.environ.get("KEHU_TIME_ZONE", "Asia/Shanghai")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # serve straight from the app folders; no collectstatic step needed

SESSION_COOKIE_AGE = 60 * 60 * 12
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # HTMX reads it for its X-CSRFToken header
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Everything from kehu itself (vendored htmx and ECharts, kehu.css, kehu.js): no inline script, no inline
# <style>, no event-handler attribute. data: images are the favicon and ECharts' own.
KEHU_CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
            "connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")

# Behind a TLS reverse proxy (README: "Behind a TLS reverse proxy"). KEHU_BEHIND_PROXY=1 trusts the proxy's
# X-Forwarded-Proto (is the request HTTPS?) and X-Forwarded-For (the client's address, for the lock-out);
# the proxy must set both and overwrite what clients send. KEHU_SECURE=1: cookies only over HTTPS,
# plain-HTTP requests redirected, and HSTS for KEHU_HSTS_SECONDS (default one year).
KEHU_BEHIND_PROXY = envbool("KEHU_BEHIND_PROXY")
KEHU_SECURE = envbool("KEHU_SECURE")
if KEHU_BEHIND_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if KEHU_SECURE:
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = True
    SECURE_HSTS_SECONDS = envint("KEHU_HSTS_SECONDS", 60 * 60 * 24 * 365)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("KEHU_LOG_LEVEL", "WARNING")},
}

# Exports of more rows than this (customers, orders, the report, target lists) are written by the worker into a
# private encrypted file the person downloads from a status page; smaller ones stream in the request. With
# KEHU_EXPORT_BACKGROUND = False (tests on an in-memory database) a big export is written in the request too.
KEHU_EXPORT_BACKGROUND_ROWS = envint("KEHU_EXPORT_BACKGROUND_ROWS", 20_000)
# Campaign e-mails are sent by that worker too (tests on an in-memory database: KEHU_CAMPAIGN_BACKGROUND = False sends
# them in the request).
