"""kehu pipl export CODE -o FILE | kehu pipl erase CODE --yes: personal-data requests from the console."""

from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kehu.customers import privacy
from kehu.customers.models import Customer


class Command(BaseCommand):
    help = "个人信息请求（PIPL）：导出某位客户的全部信息（xlsx 或 json），或删除/匿名化该客户。"

    def add_arguments(self, parser):
        parser.add_argument("action", choices=["export", "erase"])
        parser.add_argument("code", help="客户编号")
        parser.add_argument("-o", "--output", help="导出文件（.xlsx 或 .json）")
        parser.add_argument("--yes", action="store_true", help="确认删除/匿名化（不可恢复）")

    def handle(self, *args, action: str, code: str, output: str | None, yes: bool, **options):
        customer = Customer.objects.filter(code=code).first()
        if customer is None:
            raise CommandError(f"没有客户编号为 {code} 的客户")
        if action == "export":
            if not output:
                raise CommandError("请用 -o 指定导出文件（.xlsx 或 .json）")
            path = Path(output)
            fmt = "json" if path.suffix.lower() == ".json" else "xlsx"
            with open(path, "wb") as f:
                (privacy.export_json if fmt == "json" else privacy.export_xlsx)(customer, f)
            privacy.record_export(None, customer, fmt)
            self.stdout.write(f"已导出客户 {code} 的个人信息到 {path}")
            return
        if not yes:
            raise CommandError("删除/匿名化不可恢复。请确认后加 --yes 运行。 Add --yes to confirm.")
        result = privacy.erase(customer)
        if result.mode == "deleted":
            self.stdout.write(self.style.SUCCESS(f"已删除客户 {code} 及其全部记录（无订单）。"))
        else:
            self.stdout.write(self.style.SUCCESS(
                f"已匿名化客户 {code}：个人信息已清除，{result.orders} 笔订单保留用于统计。"))
