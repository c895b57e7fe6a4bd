"""kehu backup: copy the whole store into one file."""

from django.core.management.base import BaseCommand, CommandError

from kehu.ops.backup import KEY_WARNING, BackupError, backup, key_location
from kehu.ops.store import database_label


class Command(BaseCommand):
    help = "备份客户库到一个文件（SQLite 在线备份或 pg_dump）。默认保存到 KEHU_HOME/backups/。"

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output",
                            help="备份文件路径（默认 KEHU_HOME/backups/kehu-日期-时间.sqlite3 或 .dump）")

    def handle(self, *args, output: str | None, **options):
        try:
            path = backup(output)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        size = path.stat().st_size / 1024 / 1024
        self.stdout.write(self.style.SUCCESS(f"已备份 {database_label()} → {path}（{size:.1f} MB）"))
        self.stdout.write(f"Backup written to {path}")
        self.stdout.write(self.style.WARNING(KEY_WARNING.format(key=key_location())))
