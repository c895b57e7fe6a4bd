"""Hostile and mistaken files on the production path: `kehu import` as a subprocess and uploads to a live
`kehu serve`. A zip bomb dressed as a workbook is refused within seconds and with little memory, an upload over
the limit gets kehu's 413 page, and `kehu import` before `kehu init` says what to do instead of a traceback."""

import subprocess
import sys
import time

import requests

from tests.exchange.helpers import write_csv, write_zip_bomb

from .harness import LiveServer


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:")) / 1024


def test_kehu_import_before_kehu_init_says_to_run_kehu_init(store, tmp_path):
    path = write_csv(tmp_path / "客户.csv", [["客户编号", "姓名"], ["C1", "张三"]])
    run = store.kehu("import", str(path), check=False)
    assert run.returncode == 1
    assert "请先运行 kehu init" in run.stderr and "run `kehu init` first" in run.stderr
    assert "Traceback" not in run.stderr + run.stdout
    assert not store.sqlite_path.exists()  # asking did not leave an empty store behind


def kehu_with_peak_memory(env: dict, *args: str) -> tuple[int, str, float]:
    """Run `kehu ARGS…` in a Python that reports its own peak RSS (VmHWM) as it exits: the exit code, what it wrote
    to stderr, and the peak in MB. (A forked child's ru_maxrss may count the parent's pages from before exec.)"""
    code = ("import atexit, sys\n"
            "def peak():\n"
            "    status = open('/proc/self/status').read()\n"
            "    print('VmHWM', status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
            "atexit.register(peak)\n"
            f"sys.argv = ['kehu', *{list(args)!r}]\n"
            "from kehu.cli import main\n"
            "main()\n")
    run = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    peak_kb = int(run.stderr.rsplit("VmHWM", 1)[1].split()[0])
    return run.returncode, run.stderr, peak_kb / 1024


def test_kehu_import_refuses_a_zip_bomb_quickly_and_with_little_memory(ready_store, tmp_path):
    bomb = write_zip_bomb(tmp_path / "客户.xlsx", inflated_mb=1500, padding_mb=3)
    started = time.monotonic()
    returncode, stderr, peak_mb = kehu_with_peak_memory(ready_store.env, "import", str(bomb))
    took = time.monotonic() - started
    assert returncode == 1
    assert "解压后超过 1,000 MB" in stderr and "Traceback" not in stderr
    assert peak_mb < 300, peak_mb  # the whole command, Django included
    assert took < 15  # Django's start-up included; the refusal itself is timed in tests/exchange/test_limits.py


def test_a_live_server_refuses_oversized_uploads_and_zip_bombs_with_a_message(ready_store, tmp_path):
    ready_store.env["KEHU_UPLOAD_MAX_MB"] = "6"
    bomb = write_zip_bomb(tmp_path / "客户.xlsx", inflated_mb=1500, padding_mb=3)
    with LiveServer(ready_store) as server:
        web = server.session()
        web.get("/exchange/import/")
        before = peak_rss_mb(server.pid())
        started = time.monotonic()
        with open(bomb, "rb") as f:
            answer = web.post("/exchange/import/", data={"on_duplicate": "update"}, files={"file": ("客户.xlsx", f)})
        took = time.monotonic() - started
        assert answer.status_code == 200 and "解压后超过 1,000 MB" in answer.text
        assert took < 5, took
        assert peak_rss_mb(server.pid()) - before < 100

        # over the limit: kehu's own page, saying the limit
        big = tmp_path / "大.csv"
        big.write_bytes(b"x" * (8 << 20))
        with open(big, "rb") as f:
            answer = web.post("/exchange/import/", data={"on_duplicate": "update"}, files={"file": ("大.csv", f)})
        assert answer.status_code == 413 and "文件太大：上传的文件不能超过 6 MB" in answer.text

        # far over it: waitress refuses the body before receiving it
        huge = tmp_path / "巨大.csv"
        huge.write_bytes(b"x" * (20 << 20))
        try:
            with open(huge, "rb") as f:
                answer = web.post("/exchange/import/", data={"on_duplicate": "update"},
                                  files={"file": ("巨大.csv", f)})
            assert answer.status_code == 413
        except requests.ConnectionError:  # the server may close the connection while the body is still being sent
            pass
        assert list((ready_store.home / "imports").glob("*/*/*")) == []
        assert web.get("/exchange/import/").status_code == 200  # and it keeps serving
