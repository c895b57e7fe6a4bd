"""kehu serve: run the web app with waitress, a real WSGI server (static files through whitenoise)."""

import os
import signal
import subprocess
import sys
import threading
import time

from django.core.management.base import BaseCommand, CommandError

from kehu.ops.backup import key_mismatch
from kehu.ops.store import database_label, pending_migrations


def body_cap() -> int:
    """waitress refuses a body this large before receiving it (a plain 413). It is twice the upload limit, so an
    upload a little too large still reaches kehu and gets its 413 page saying what the limit is."""
    from django.conf import settings

    return 2 * settings.KEHU_UPLOAD_MAX_MB * (1 << 20)


class Command(BaseCommand):
    help = "启动 kehu 网页服务（waitress）。"
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("--host", default="127.0.0.1", help="监听地址（默认 127.0.0.1；局域网访问用 0.0.0.0）")
        parser.add_argument("--port", type=int, default=8000, help="端口（默认 8000）")
        parser.add_argument("--threads", type=int, default=8, help="工作线程数（默认 8）")
        parser.add_argument("--no-worker", action="store_true",
                            help="不在本进程旁启动后台任务进程（另行运行 kehu worker 时使用）"
                                 "(do not start a `kehu worker` beside this server)")

    def handle(self, *args, host: str, port: int, threads: int, no_worker: bool = False, **options):
        from django.db import OperationalError

        try:
            pending = pending_migrations()
        except OperationalError as exc:
            raise CommandError(f"无法连接数据库（{database_label()}）：{exc}\n请先运行 kehu init") from exc
        if pending:
            raise CommandError(f"数据库尚未初始化或需要升级（{len(pending)} 项迁移未执行），请先运行 kehu init\n"
                               "The store is not initialised or needs migrating: run `kehu init` first.")
        if (problem := key_mismatch()) is not None:
            raise CommandError(problem)
        from waitress import serve

        from kehu.wsgi import application

        shown = "127.0.0.1" if host in ("0.0.0.0", "::", "") else host
        self.stdout.write(f"数据库 Database: {database_label()}")
        self.stdout.write(self.style.SUCCESS(f"kehu 已启动，请在浏览器打开 http://{shown}:{port}/"))
        if host not in ("127.0.0.1", "localhost", "::1"):
            self.stdout.write("提示：从其他电脑访问时，请把本机地址加入环境变量 KEHU_ALLOWED_HOSTS（逗号分隔）。")
        self.stdout.write(f"Serving on http://{shown}:{port}/ — 按 Ctrl+C 停止 (Ctrl+C to stop)")
        self.stdout.flush()
        from kehu.ops import presence

        worker = None if no_worker else BesideWorker().start()
        if worker is not None:
            self.stdout.write(f"后台任务 Background jobs: kehu worker, 进程 {worker.process.pid}")
            self.stdout.flush()
        # SIGTERM (systemd, `kill`) stops the server like Ctrl+C: its worker stopped, its presence removed.
        signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
        try:
            with presence.serving(f"http://{shown}:{port}/"):  # `kehu restore` refuses while any server is alive
                serve(application, host=host, port=port, threads=threads, ident="kehu", _quiet=True,
                      max_request_body_size=body_cap())
        except OSError as exc:
            raise CommandError(f"无法在 {host}:{port} 启动：{exc.strerror or exc}。"
                               "端口可能已被占用，请用 --port 换一个端口。") from exc
        finally:
            if worker is not None:
                worker.stop()


class BesideWorker:
    """`kehu worker --parent <this server>` as a child process, started again should it die (a job it was running
    is then found interrupted and reverted by the new one). It stops with the server; a server killed outright
    leaves it to notice its parent is gone and stop after the job under way."""

    def __init__(self):
        self.process: subprocess.Popen | None = None
        self.stopping = threading.Event()

    def _spawn(self) -> None:
        self.process = subprocess.Popen([sys.executable, "-m", "kehu.cli", "worker", "--parent", str(os.getpid())])
        self.spawned = time.monotonic()

    def start(self) -> "BesideWorker":
        self._spawn()
        threading.Thread(target=self._supervise, name="kehu-worker-supervisor", daemon=True).start()
        return self

    def _supervise(self) -> None:
        pause = 1.0
        while not self.stopping.wait(pause):
            if self.process is not None and self.process.poll() is not None:
                # A worker that exits at once (the store unreachable) is restarted less and less often, up to a minute.
                pause = min(pause * 2, 60.0) if time.monotonic() - self.spawned < 10 else 1.0
                print(f"后台任务进程已退出（{self.process.returncode}），重新启动 (worker exited, restarting)",
                      file=sys.stderr, flush=True)
                self._spawn()

    def stop(self) -> None:
        self.stopping.set()
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()  # the worker finishes the job under way, then exits
