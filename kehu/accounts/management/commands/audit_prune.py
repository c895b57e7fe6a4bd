"""kehu audit_prune: delete audit log entries older than the retention time (KEHU_AUDIT_RETENTION_DAYS)."""

from django.core.management.base import BaseCommand, CommandError

from kehu.accounts.audit import prune, retention_days


class Command(BaseCommand):
    help = ("删除超过保留期限的审计日志（默认 KEHU_AUDIT_RETENTION_DAYS=730 天）。"
            "可每天定时运行，如 cron：15 3 * * * kehu audit_prune")

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, help="保留最近多少天（默认取 KEHU_AUDIT_RETENTION_DAYS）")

    def handle(self, *args, days: int | None, **options):
        days = retention_days() if days is None else days
        if days < 1:
            raise CommandError("--days 至少为 1")
        deleted = prune(days)
        self.stdout.write(f"已删除 {deleted} 条超过 {days} 天的审计日志。 Pruned {deleted} audit entries.")
