"""kehu worker: run background jobs (web imports) queued in the store's database — django-tasks-db's worker.

At start and every RECOVER_SECONDS it looks for jobs whose worker died midway (kehu.exchange.jobs): they are marked
failed and what they wrote is reverted. Any number of workers may run, on any host of the store. `kehu serve`
starts one beside itself (with --parent: the worker stops once that server is gone) unless --no-worker.
"""

import logging
import os
import sys
import threading

from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from kehu.ops.store import database_label, pending_migrations

log = logging.getLogger(__name__)
RECOVER_SECONDS = 2.0


class Command(DBWorkerCommand):
    help = "运行后台任务（网页导入）。Run background jobs (web imports) of this store."
    requires_system_checks = []

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=0.5, reload=False, startup_delay=False)
        parser.add_argument("--parent", type=int, default=None,
                            help="由 kehu serve 启动时使用：该进程退出后本进程也停止 (stop once PARENT is gone)")

    def handle(self, *args, parent: int | None = None, **options):
        try:
            pending = pending_migrations()
        except OperationalError as exc:
            raise CommandError(f"无法连接数据库（{database_label()}）：{exc}\n请先运行 kehu init") from exc
        if pending:
            raise CommandError("数据库尚未初始化或需要升级，请先运行 kehu init\n"
                               "The store is not initialised or needs migrating: run `kehu init` first.")
        from kehu.exchange import jobs

        for job in jobs.recover_interrupted():
            self.stdout.write(f"导入任务 {job} 已中断：已撤销其写入的部分 (interrupted import reverted)")
        self.stdout.write(f"kehu worker 已启动 (worker started), 进程 {os.getpid()}, 数据库 {database_label()}")
        self.stdout.flush()
        stop = threading.Event()
        threading.Thread(target=_watch, args=(stop, parent), name="kehu-worker-watch", daemon=True).start()
        try:
            super().handle(*args, **options)
        finally:
            stop.set()


def _watch(stop: threading.Event, parent: int | None) -> None:
    """Recover jobs of dead workers every few seconds; stop this worker once its parent server is gone."""
    from kehu.exchange import jobs

    try:
        while not stop.wait(RECOVER_SECONDS):
            if parent is not None and os.getppid() != parent:
                log.warning("the server that started this worker is gone: stopping")
                os.kill(os.getpid(), 15)  # the worker's own handler: finish the job under way, then exit
                return
            try:
                jobs.recover_interrupted()
            except Exception:
                log.exception("recovery of interrupted jobs failed")
    finally:
        connection.close()
        sys.stdout.flush()
