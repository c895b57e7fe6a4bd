"""kehu export customers|orders|report|template|mapping -o FILE [--user NAME] [--filter "province=广东省&grade=A"]
[--lang en]

Files are written in Chinese unless `--lang en` asks for English headers, sheet names and choice labels; either
imports back (`kehu import` recognises both languages).
"""

from pathlib import Path
from urllib.parse import parse_qsl

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils import translation

from kehu.accounts import audit
from kehu.customers.columns import parse_columns
from kehu.customers.filters import CustomerFilter, audit_query, search_hash
from kehu.customers.models import Customer
from kehu.exchange import exporters
from kehu.exchange.headers import KINDS
from kehu.exchange.mappings import template_json
from kehu.exchange.models import ImportTemplate
from kehu.lib.params import BadParameter


class Operator:
    """Whoever runs the command on the machine holding the store: sees everything, unmasked (like a backup)."""

    is_authenticated = True
    sees_all_customers = True
    sees_contact_details = True
    display_name = "命令行"


class Command(BaseCommand):
    help = "导出客户、消费记录、汇总报表（xlsx 或 csv），或下载空白导入模板"

    def add_arguments(self, parser):
        parser.add_argument("what", choices=["customers", "orders", "report", "template", "mapping"])
        parser.add_argument("kind", nargs="?", choices=list(KINDS), help="模板种类（仅 template）")
        parser.add_argument("-o", "--output", required=True, help="输出文件（.xlsx 或 .csv）")
        parser.add_argument("--user", help="以该用户身份导出（按其角色决定可见客户和脱敏）；不指定则导出全部、不脱敏")
        parser.add_argument("--filter", default="", help='与客户列表相同的筛选参数，如 "province=广东省&grade=A"')
        parser.add_argument("--cols", default="",
                            help="只导出客户列表的这些列（逗号分隔，如 code,name,total_spend），"
                                 "按 --filter 中的 sort 排序")
        parser.add_argument("--name", help="要导出的导入模板（列映射）名称（仅 mapping）")
        parser.add_argument("--lang", choices=[code for code, _name in settings.LANGUAGES],
                            default=settings.LANGUAGE_CODE,
                            help="表头、工作表名和选项的语言（默认简体中文；en 为英文，两者都可再导入）")

    def handle(self, *args, **opts):
        with translation.override(opts["lang"]):
            self._export(opts)

    def _export(self, opts):
        out = Path(opts["output"])
        if opts["what"] == "mapping":
            template = ImportTemplate.objects.filter(name=opts["name"] or "").first()
            if template is None:
                names = "、".join(ImportTemplate.objects.values_list("name", flat=True)) or "（还没有）"
                raise CommandError(f"找不到导入模板“{opts['name'] or ''}”；已保存的模板：{names}")
            out.write_text(template_json(template), encoding="utf-8")
            self.stdout.write(f"导入模板“{template.name}”已写入 {out}")
            return
        if opts["what"] == "template":
            exporters.template_workbook(opts["kind"] or "customers", out)
            self.stdout.write(f"模板已写入 {out}")
            return
        User = get_user_model()
        if opts["user"]:
            user = User.objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"找不到用户“{opts['user']}”")
        else:
            user = Operator()
        params = dict(parse_qsl(opts["filter"]))
        if opts["cols"]:
            params["cols"] = opts["cols"]
        try:
            flt = CustomerFilter.from_params(params)
            customers = flt.apply(Customer.objects.visible_to(user), user)  # an age band is refused to a masked role
        except BadParameter as exc:
            raise CommandError(exc.message) from exc
        orders = exporters.visible_orders(user).filter(customer__in=customers)
        audit.record(user if isinstance(user, User) else None, audit.AuditAction.EXPORT, opts["what"],
                     {"file": str(out), "filter": audit_query(params), "search_hash": search_hash(params),
                      "masked": not user.sees_contact_details},
                     channel="cli")
        csv_out = out.suffix.lower() == ".csv"
        if opts["what"] == "report":
            figures = exporters.export_report_xlsx(customers, orders, user, out)
            self.stdout.write(f"报表已写入 {out}：客户 {figures['customers']}，消费记录 {figures['orders']}")
            return
        if opts["what"] == "customers" and "cols" in params:  # the list as shown: chosen columns, its sort
            keys = parse_columns(params)
            if csv_out:
                with open(out, "w", encoding="utf-8-sig", newline="") as f:
                    count = exporters.export_customer_list_csv(customers, user, keys, flt.sort, f)
            else:
                count = exporters.export_customer_list_xlsx(customers, user, keys, flt.sort, out)
            self.stdout.write(f"已导出 {count} 行到 {out}")
            return
        if csv_out:
            with open(out, "w", encoding="utf-8-sig", newline="") as f:
                count = (exporters.export_customers_csv(customers, user, f) if opts["what"] == "customers"
                         else exporters.export_orders_csv(orders, f))
        else:
            count = (exporters.export_customers_xlsx(customers, user, out) if opts["what"] == "customers"
                     else exporters.export_orders_xlsx(orders, out))
        self.stdout.write(f"已导出 {count} 行到 {out}")
