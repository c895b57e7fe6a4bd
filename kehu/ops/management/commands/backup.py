"""kehu backup: copy the whole store into one encrypted file; --verify proves a backup restores."""

from argparse import RawDescriptionHelpFormatter
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kehu.ops.backup import (
    KEY_WARNING,
    BackupError,
    backup,
    backup_dir,
    key_location,
    prune_backups,
    stored_backups,
    verify,
)
from kehu.ops.store import database_label

SCHEDULE = """定时备份（cron，每天 2:30，保留 14 份并校验）：
  30 2 * * * KEHU_HOME=/path/to/kehu-data kehu backup --keep 14 && kehu backup --verify
Schedule daily (cron): 30 2 * * * KEHU_HOME=... kehu backup --keep 14 && kehu backup --verify"""


class Command(BaseCommand):
    help = ("备份客户库到一个加密文件（用数据密钥加密，.kehu-backup），"
            "默认保存到 KEHU_HOME/backups/ 并只保留最近 14 份。--verify 把备份恢复到临时库并逐表核对。")

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, epilog=SCHEDULE, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("-o", "--output", help="备份文件路径（默认 KEHU_HOME/backups/kehu-日期-时间.kehu-backup）")
        parser.add_argument("--verify", nargs="?", const="", metavar="FILE",
                            help="校验备份：解密并恢复到临时库，比对每张表的行数和主要表的校验和"
                                 "（不写 FILE 则校验最新一份）")
        parser.add_argument("--keep", type=int, default=14,
                            help="KEHU_HOME/backups 中保留最近几份（默认 14；0 表示不删除）")
        parser.add_argument("--plain", action="store_true",
                            help="不加密（旧格式；文件中的客户资料除联系方式外可直接读取）")

    def handle(self, *args, output: str | None, verify: str | None, keep: int, plain: bool, **options):
        if verify is not None:
            return self._verify(verify)
        from kehu.accounts import audit
        from kehu.exchange import uploads

        if swept := uploads.sweep():
            self.stdout.write(f"已删除 {len(swept)} 个不再需要的导入上传文件。 Deleted {len(swept)} stale uploads.")
        try:
            path = backup(output, encrypt=not plain)
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        size = path.stat().st_size / 1024 / 1024
        self.stdout.write(self.style.SUCCESS(f"已备份 {database_label()} → {path}（{size:.1f} MB）"))
        self.stdout.write(f"Backup written to {path}")
        if keep > 0 and path.parent.resolve() == backup_dir().resolve():
            for gone in prune_backups(keep):
                self.stdout.write(f"已删除旧备份 {gone.name}（保留最近 {keep} 份）")
        audit.record(None, audit.AuditAction.BACKUP, str(path.name), {"encrypted": not plain})
        self.stdout.write(self.style.WARNING(KEY_WARNING.format(key=key_location())))

    def _verify(self, file: str):
        if not file:
            found = stored_backups()
            if not found:
                raise CommandError(f"{backup_dir()} 中没有备份可校验")
            file = str(found[-1])
        try:
            result = verify(Path(file))
        except BackupError as exc:
            raise CommandError(str(exc)) from exc
        if result["problems"]:
            raise CommandError("备份校验失败 Verify failed:\n" + "\n".join(result["problems"]))
        self.stdout.write(self.style.SUCCESS(
            f"备份完好：{file} 已恢复到临时库，{result['tables']} 张表共 {result['rows']} 行与备份时一致。"))
        self.stdout.write(f"Backup verified: {result['tables']} tables, {result['rows']} rows match.")
