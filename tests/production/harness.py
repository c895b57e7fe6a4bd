"""The production path, as a person runs it: a store of its own on disk (SQLite in WAL mode, or a PostgreSQL
database of its own), the `kehu` command as a subprocess, and a live `kehu serve` on a free port.

`make test` runs the suite once on SQLite and once on PostgreSQL; a production-path store follows the pass it
runs in, so each pass proves the path of its own engine.
"""

from __future__ import annotations

import itertools
import os
import re
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass, field
from pathlib import Path

import requests
from django.db import connection

ON_POSTGRES = connection.vendor == "postgresql"
PG_ADMIN_URL = "postgresql://postgres@127.0.0.1:5432/postgres"
ADMIN_PASSWORD = "Prod-Path-Check-2026"
_numbers = itertools.count()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Store:
    """A store of its own: a KEHU_HOME folder and, on PostgreSQL, a database of its own."""

    home: Path
    database_url: str | None = None
    database_name: str | None = None
    env: dict = field(default_factory=dict)

    @classmethod
    def create(cls, base: Path, engine: str | None = None) -> Store:
        engine = engine or ("postgresql" if ON_POSTGRES else "sqlite")
        home = base / "kehu-home"
        url = name = None
        if engine == "postgresql":
            name = f"kehu_prod_{os.getpid()}_{next(_numbers)}"
            _drop_database(name)
            url = f"postgres://postgres@127.0.0.1:5432/{name}"
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("KEHU_") or k in ("KEHU_REQUIRE_BROWSER",)}
        env.pop("DJANGO_SETTINGS_MODULE", None)
        env["KEHU_HOME"] = str(home)
        env["PYTHONUNBUFFERED"] = "1"
        env["KEHU_NIGHTLY"] = "off"  # a worker would run the day's nightly jobs (a backup…) at once: a test sets it
        if url:
            env["KEHU_DATABASE_URL"] = url
        return cls(home=home, database_url=url, database_name=name, env=env)

    @property
    def vendor(self) -> str:
        return "postgresql" if self.database_url else "sqlite"

    @property
    def sqlite_path(self) -> Path:
        return self.home / "kehu.sqlite3"

    def kehu(self, *args: str, check: bool = True, timeout: float = 300, stdin: str = "",
             env: dict | None = None) -> subprocess.CompletedProcess:
        """Run `kehu ARGS…` as a person would (the installed entry point), and return what it printed."""
        run = subprocess.run([kehu_command(), *args], env={**self.env, **(env or {})}, capture_output=True,
                             text=True, input=stdin, timeout=timeout)
        if check and run.returncode:
            raise AssertionError(f"kehu {' '.join(args)} failed ({run.returncode}):\n{run.stdout}\n{run.stderr}")
        return run

    def shell(self, code: str) -> str:
        """Run Python inside `kehu shell` (Django set up on this store) and return its standard output."""
        return self.kehu("shell", "-c", code).stdout

    def query(self, sql: str, *params) -> list[tuple]:
        """The rows of a read-only SQL statement (`?` placeholders) on this store's database, read in this process
        (Python's own sqlite3, or psycopg on PostgreSQL): a check of plain columns without starting a
        `kehu shell` (half a second of CPU). Encrypted fields need `shell`."""
        if self.database_url is None:
            with closing(sqlite3.connect(self.sqlite_path)) as db:
                return db.execute(sql, params).fetchall()
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            return conn.execute(sql.replace("%", "%%").replace("?", "%s"), params).fetchall()

    def init(self, password: str = ADMIN_PASSWORD) -> None:
        self.kehu("init", "--password", password)

    def integrity(self) -> str:
        """PRAGMA integrity_check through Python's own sqlite3 (the one SQLite library of this process)."""
        with sqlite3.connect(self.sqlite_path) as db:
            return db.execute("PRAGMA integrity_check").fetchone()[0]

    def drop(self) -> None:
        if self.database_name:
            _drop_database(self.database_name)

    def clone(self, base: Path) -> Store:
        """A copy of this initialised store (its folder with keys and, on PostgreSQL, its database), so that a
        test starts from what `kehu init` made without paying for the migrations again."""
        copy = Store.create(base, self.vendor)
        shutil.copytree(self.home, copy.home)
        if copy.database_name:
            import psycopg

            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f'CREATE DATABASE "{copy.database_name}" TEMPLATE "{self.database_name}"')
        return copy


def kehu_command() -> str:
    """The `kehu` entry point installed beside this Python (what `make demo` runs), else `python -m kehu.cli`."""
    script = Path(sys.executable).with_name("kehu")
    return str(script) if script.exists() else f"{sys.executable} -m kehu.cli"


def _drop_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class LiveServer:
    """`kehu serve` on a free port of 127.0.0.1, started, stopped and restarted like a real one. With `worker`, the
    background worker it starts beside itself as a person runs it; without, `--no-worker` (a test that starts no
    web import and no classification from a page spares the worker's start-up, about a second of CPU)."""

    def __init__(self, store: Store, port: int | None = None, worker: bool = False):
        self.store = store
        self.args = () if worker else ("--no-worker",)
        self.port = port or free_port()
        self.process: subprocess.Popen | None = None
        self.log = store.home.parent / f"serve-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 30) -> LiveServer:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - kept open for the server's lifetime
        self.process = subprocess.Popen([kehu_command(), "serve", "--host", "127.0.0.1", "--port", str(self.port),
                                         *self.args],
                                        env=self.store.env, stdout=self._log_file, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"kehu serve exited ({self.process.returncode}):\n{self.output()}")
            try:
                if requests.get(self.url + "/accounts/login/", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:  # refused, or too slow to answer under load
                pass
            time.sleep(0.1)
        self.stop(kill=True)  # never left running (nor the worker it may start) after the test gave up on it
        raise AssertionError(f"kehu serve did not answer within {timeout} s:\n{self.output()}")

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        if kill:
            self.process.kill()
        else:
            self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self._log_file.close()

    def restart(self) -> LiveServer:
        self.stop()
        return self.start()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def session(self, username: str = "admin", password: str = ADMIN_PASSWORD) -> requests.Session:
        """A logged-in browser-like session (cookies, CSRF header for POSTs)."""
        return log_in(self.url, username, password)

    def __enter__(self) -> LiveServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class Worker:
    """`kehu worker` as a process of its own (what a team runs beside `kehu serve --no-worker`)."""

    def __init__(self, store: Store, name: str = "worker"):
        self.store = store
        self.log = store.home.parent / f"{name}-{next(_numbers)}.log"
        self.process: subprocess.Popen | None = None

    def start(self) -> Worker:
        self._log_file = open(self.log, "ab")  # noqa: SIM115 - kept open for the worker's lifetime
        self.process = subprocess.Popen([kehu_command(), "worker"], env=self.store.env, stdout=self._log_file,
                                        stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while "worker started" not in self.output():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"kehu worker did not start:\n{self.output()}")
            time.sleep(0.1)
        return self

    def stop(self, kill: bool = False) -> None:
        if self.process is None:
            return
        self.process.kill() if kill else self.process.terminate()
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.process = None
        self._log_file.close()

    def output(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""


class WebSession(requests.Session):
    """A requests session that sends Django's CSRF token the way HTMX does, and knows its base URL."""

    def __init__(self, base: str):
        super().__init__()
        self.base = base

    def request(self, method, url, *args, **kwargs):
        if url.startswith("/"):
            url = self.base + url
        if method.upper() not in ("GET", "HEAD", "OPTIONS"):
            headers = kwargs.setdefault("headers", {}) or {}
            kwargs["headers"] = headers
            headers.setdefault("X-CSRFToken", self.cookies.get("csrftoken", ""))
            headers.setdefault("Referer", self.base + "/")
        kwargs.setdefault("timeout", 60)
        return super().request(method, url, *args, **kwargs)


def follow_import(web: WebSession, progress: str, timeout: float = 60) -> str:
    """Poll a web import's progress page (as the page itself does) until it leads to the batch; its URL."""
    return follow_progress(web, progress, "导入失败", timeout)


def follow_run(web: WebSession, status: str, timeout: float = 60) -> str:
    """Poll a classification's status page until it leads back to the page it was started from; that URL."""
    return follow_progress(web, status, 'data-status="failed"', timeout)


def follow_progress(web: WebSession, page: str, failure: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        answer = web.get(page, allow_redirects=False)
        if answer.status_code == 302:
            return answer.headers["Location"]
        assert answer.status_code == 200 and failure not in answer.text, answer.text[-800:]
        time.sleep(0.2)
    raise AssertionError(f"{page} did not finish within {timeout} s (a server runs jobs with a worker: "
                         "LiveServer(store, worker=True), or the `server` fixture with @pytest.mark.worker)")


def log_in(base: str, username: str, password: str) -> WebSession:
    session = WebSession(base)
    page = session.get("/accounts/login/")
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
    assert token, "the login page has no CSRF token"
    answer = session.post("/accounts/login/", data={"username": username, "password": password,
                                                     "csrfmiddlewaretoken": token.group(1)}, allow_redirects=False)
    assert answer.status_code == 302, f"login as {username} failed ({answer.status_code})"
    return session


def signed_in_page(browser, base_url: str, username: str = "admin", password: str = ADMIN_PASSWORD,
                   viewport: dict | None = None, **options):
    """A Chromium page of a new context (zh-CN, 1366 px unless told), signed in through the login form."""
    context = browser.new_context(base_url=base_url, locale="zh-CN",
                                  viewport=viewport or {"width": 1366, "height": 900}, **options)
    context.set_default_timeout(20_000)
    page = context.new_page()
    page.goto("/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(lambda url: "/accounts/login" not in url)
    return page


def open_files(pid: int) -> list[str]:
    """What a process has open, as `ls -l /proc/PID/fd` shows it (a deleted file ends in ' (deleted)')."""
    found = []
    fd_dir = Path(f"/proc/{pid}/fd")
    for fd in fd_dir.iterdir():
        try:
            found.append(os.readlink(fd))
        except OSError:
            continue
    return found
