"""kehu health: check the archive's data quality, print the findings and record today's score."""

from django.core.management.base import BaseCommand

from kehu.customers.health import STALE_MONTHS, check, record_score


class Command(BaseCommand):
    help = "检查数据质量（完整度、过期、无效值、疑似重复、无负责人、无明细订单），并记录今天的数据质量分。"

    def add_arguments(self, parser):
        parser.add_argument("--months", type=int, default=STALE_MONTHS, help="多少个月没有更新、沟通或消费算过期")
        parser.add_argument("--no-record", action="store_true", help="只检查，不记录今天的得分")

    def handle(self, *args, months: int, no_record: bool, **options):
        from kehu.exchange import uploads  # a daily health run also sweeps abandoned import uploads

        if swept := uploads.sweep():
            self.stdout.write(f"已删除 {len(swept)} 个不再需要的导入上传文件。 Deleted {len(swept)} stale uploads.")
        report = check(months=months)
        self.stdout.write(f"数据质量分 Health score: {report.score}/100  （客户 {report.customers} 个）")
        self.stdout.write("字段完整度 Completeness:")
        for _, label, percent in report.completeness:
            self.stdout.write(f"  {label}: {percent:.1f}%")
        self.stdout.write("发现的问题 Findings:")
        for finding in report.findings:
            self.stdout.write(f"  {finding.title}: {finding.count}")
        if not no_record:
            record_score(report)
            self.stdout.write(self.style.SUCCESS("已记录今天的得分。 Today's score recorded."))
