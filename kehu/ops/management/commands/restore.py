"""kehu restore: replace the whole store by a backup."""

import sys

from django.core.management.base import BaseCommand, CommandError

from kehu.ops import presence
from kehu.ops.backup import (
    KEY_WARNING,
    BackupError,
    backup,
    check_backup,
    is_sqlite,
    key_location,
    restore,
)
from kehu.ops.store import database_label, pending_migrations


class Command(BaseCommand):
    help = "用备份文件恢复客户库。当前数据会被整体替换（恢复前自动先备份当前数据）。"

    def add_arguments(self, parser):
        parser.add_argument("file", metavar="FILE", help="kehu backup 生成的备份文件")
        parser.add_argument("--yes", action="store_true", help="不再询问，直接恢复")
        parser.add_argument("--no-safety-backup", action="store_true", help="恢复前不自动备份当前数据")
        parser.add_argument("--force", action="store_true",
                            help="即使 kehu serve 或 kehu worker 正在运行也恢复（不建议）")

    def handle(self, *args, file: str, yes: bool, no_safety_backup: bool, force: bool, **options):
        target = database_label()
        if (servers := self._running_servers()) and not force:
            raise CommandError(f"kehu serve 或 kehu worker 正在运行（{presence.describe(servers)}），恢复会替换它们正在"
                               "使用的数据。请先停止全部服务和后台任务进程再恢复，或确认无人使用后加 --force。\n"
                               f"kehu serve or kehu worker is running ({len(servers)} process(es)): stop them first, "
                               "or add --force.")
        try:
            check_backup(file)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("恢复会替换当前全部数据。请确认后加 --yes 运行。 Add --yes to confirm.")
            answer = input(f"将用 {file} 替换 {target} 中的全部数据，确定吗？[y/N] ")
            if answer.strip().lower() not in ("y", "yes", "是"):
                raise CommandError("已取消，数据未改变。")
        try:
            if not no_safety_backup:
                safety = self._safety_backup()
                if safety:
                    self.stdout.write(f"恢复前已备份当前数据 → {safety}")
            restore(file)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(f"已从 {file} 恢复 {target}。 Restored."))
        try:
            from kehu.accounts import audit

            audit.record(None, audit.AuditAction.RESTORE, str(file)[-200:], {"database": target})
        except Exception:  # a store restored from before the audit log has no table for it yet
            pass
        try:
            pending = pending_migrations()
        except Exception:  # a hint only; never fail a finished restore
            pending = []
        if pending:
            self.stdout.write(self.style.WARNING("该备份来自较早的版本，请运行 kehu init 完成数据库升级。"))
        self.stdout.write(KEY_WARNING.format(key=key_location()).split("\n")[0])

    @staticmethod
    def _running_servers() -> list:
        """Servers of this store that are alive; none known when the store has no presence table yet."""
        from django.db import DatabaseError

        try:
            return presence.running()
        except DatabaseError:  # a store from before presence was recorded, or no store at all
            return []

    def _safety_backup(self):
        from django.conf import settings

        if is_sqlite():
            from pathlib import Path

            if not Path(settings.DATABASES["default"]["NAME"]).exists():
                return None
        try:
            return backup()
        except BackupError:
            if is_sqlite():
                raise
            return None  # an empty or missing PostgreSQL database has nothing to keep
