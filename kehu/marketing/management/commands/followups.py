"""kehu followups: run the automatic follow-up rules (idempotent; safe to run again)."""

import datetime

from django.core.management.base import BaseCommand, CommandError

from kehu.marketing.automation import p_alive_supported, run_rules
from kehu.marketing.models import RuleKey

HELP = """\
自动跟进：按规则（生日、沉睡/流失、流失风险、活跃概率、逾期未购、差评）为负责人生成跟进任务，同一原因不重复生成。
Create follow-up tasks from the rules (系统设置 → 自动跟进规则); never the same reason twice.

每天早上运行（cron）Daily with cron, after `kehu segment`:
    0 7 * * *  cd /srv/kehu && .venv/bin/kehu followups >> kehu-data/followups.log 2>&1
"""


class Command(BaseCommand):
    help = HELP

    def create_parser(self, prog_name, subcommand, **kwargs):
        from argparse import RawDescriptionHelpFormatter

        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.formatter_class = RawDescriptionHelpFormatter
        return parser

    def add_arguments(self, parser):
        parser.add_argument("--date", metavar="YYYY-MM-DD", help="按哪一天运行，默认今天 Run as of this day")
        parser.add_argument("--dry-run", action="store_true", help="只统计，不生成 Count only")

    def handle(self, *args, date: str | None, dry_run: bool, **options):
        try:
            day = datetime.date.fromisoformat(date) if date else None
        except ValueError as exc:
            raise CommandError(f"日期格式应为 YYYY-MM-DD：{date}") from exc
        created = run_rules(day, dry_run=dry_run)
        for key, n in created.items():
            self.stdout.write(f"{RuleKey(key).label}：{n}")
        if not p_alive_supported():
            self.stdout.write("（未计算活跃概率，跳过“活跃概率低且价值高”规则）")
        self.stdout.write(("将生成" if dry_run else "共生成") + f" {sum(created.values())} 个跟进任务")
