"""kehu worker: run background jobs (web imports, classifications started from a page, big exports, campaign e-mails,
the nightly jobs) queued in the store's database — django-tasks-db's worker.

At start and every RECOVER_SECONDS it looks for jobs whose worker died midway: an import is marked failed and what it
wrote is reverted (kehu.exchange.jobs), a classification, an export, a campaign send or a nightly run is marked
failed (kehu.segments.runs, kehu.exchange.exports, kehu.marketing.sends, kehu.ops.nightly); it deletes written
exports nobody downloaded within a day; and it queues the nightly jobs once they are due (KEHU_NIGHTLY). It is
registered as a process of the store while it runs (kehu.ops.presence), so `kehu restore` refuses. Any number of
workers may run, on any host of the store. `kehu serve` starts one beside itself (with --parent: the worker stops once
that server is gone) unless --no-worker.
"""

import logging
import os
import sys
import threading

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError
from django.db import OperationalError, connection
from django_tasks_db.management.commands.db_worker import Command as DBWorkerCommand

from kehu.ops.store import database_label, pending_migrations

log = logging.getLogger(__name__)
RECOVER_SECONDS = 2.0


class Command(DBWorkerCommand):
    help = ("运行后台任务（网页导入、网页发起的分层计算、大批量导出、营销邮件、每晚自动任务）。"
            "Run background jobs of this store.")
    requires_system_checks = []

    def add_arguments(self, parser):
        super().add_arguments(parser)
        parser.set_defaults(interval=1.0, reload=False, startup_delay=False)
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
        from kehu.ops import nightly, presence

        try:
            at = nightly.scheduled_time()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        for job in jobs.recover_interrupted():
            self.stdout.write(f"导入任务 {job} 已中断：已撤销其写入的部分 (interrupted import reverted)")
        _recover()
        self.stdout.write(f"kehu worker 已启动 (worker started), 进程 {os.getpid()}, 数据库 {database_label()}")
        self.stdout.write(f"每晚自动任务 Nightly jobs: {at:%H:%M}（{settings.TIME_ZONE}）" if at else
                          "每晚自动任务已关闭 Nightly jobs: off (KEHU_NIGHTLY)")
        self.stdout.flush()
        stop = threading.Event()
        with presence.serving("kehu worker"):  # `kehu restore` refuses while it runs
            threading.Thread(target=_watch, args=(stop, parent), name="kehu-worker-watch", daemon=True).start()
            try:
                super().handle(*args, **options)
            finally:
                stop.set()


def _recover() -> None:
    """Jobs of dead workers: imports reverted, classifications, exports, campaign sends and nightly runs marked
    failed; written exports nobody downloaded in time deleted."""
    from kehu.exchange import exports, jobs
    from kehu.marketing import sends
    from kehu.ops import nightly
    from kehu.segments import runs

    jobs.recover_interrupted()
    runs.recover_interrupted()
    exports.recover_interrupted()
    sends.recover_interrupted()
    exports.sweep()
    nightly.recover_interrupted()


def _watch(stop: threading.Event, parent: int | None) -> None:
    """Every few seconds: recover jobs of dead workers and queue the nightly jobs when due; stop this worker once
    its parent server is gone."""
    from kehu.ops import nightly

    try:
        while not stop.wait(RECOVER_SECONDS):
            if parent is not None and os.getppid() != parent:
                log.warning("the server that started this worker is gone: stopping")
                os.kill(os.getpid(), 15)  # the worker's own handler: finish the job under way, then exit
                return
            try:
                _recover()
                nightly.schedule()
            except Exception:
                log.exception("recovery of interrupted jobs or the nightly schedule failed")
    finally:
        connection.close()
        sys.stdout.flush()
