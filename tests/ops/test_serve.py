"""kehu serve: a real WSGI server (waitress) with static files; refuses an uninitialised store."""

import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from .cli import env_for, kehu


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_it_refuses_to_serve_before_init(tmp_path):
    run = kehu(env_for(tmp_path / "home"), "serve", "--port", str(free_port()), check=False)
    assert run.returncode != 0
    assert "请先运行 kehu init" in run.stderr


def test_it_serves_pages_and_static_files(ready_store):
    env = ready_store.env
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "kehu.cli", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                status, body = get(f"{base}/accounts/login/")
                break
            except (ConnectionError, TimeoutError, urllib.error.URLError):  # refused, or slow under load
                time.sleep(0.1)
        else:
            raise AssertionError("kehu serve did not start")
        assert status == 200
        assert b"kehu" in body
        status, body = get(f"{base}/static/vendor/htmx.min.js")
        assert status == 200 and b"htmx" in body
    finally:
        server.terminate()
        out, _ = server.communicate(timeout=10)
    assert f"http://127.0.0.1:{port}/" in out
