"""kehu pool: return customers whose owner has not followed up for N days to the pool (公海)."""

from django.core.management.base import BaseCommand

from kehu.marketing.pool import DEFAULT_DAYS, return_stale

HELP = """\
公海：负责人超过 N 天未跟进（沟通记录、完成跟进任务、领取）的客户退回公海，保留变更记录；销售可在“公海”页面领取。
Return customers not followed up by their owner for N days to the shared pool; history is kept.

每天运行（cron）Daily with cron:
    30 6 * * *  cd /srv/kehu && .venv/bin/kehu pool --days 30 >> kehu-data/pool.log 2>&1
"""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--days", type=int, default=DEFAULT_DAYS, help="未跟进天数 Days without follow-up")
        parser.add_argument("--dry-run", action="store_true", help="只统计，不退回 Count only")

    def handle(self, *args, days: int, dry_run: bool, **options):
        n = return_stale(days, dry_run=dry_run)
        self.stdout.write(f"{'将退回' if dry_run else '已退回'}公海：{n} 位客户（超过 {days} 天未跟进）")
