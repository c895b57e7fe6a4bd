"""kehu analyze INPUT -o OUTPUT.xlsx [--as-of DATE] [--currency CODE]"""

import tempfile
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from kehu.exchange.readers import UnreadableFile, read_workbook
from kehu.lib import money


class Command(BaseCommand):
    help = "把一个客户/消费记录表格直接分析成分层报告（无需服务器，不改动已有数据）"

    def add_arguments(self, parser):
        parser.add_argument("input", help="xlsx 或 csv：至少要有客户编号、消费日期、消费金额")
        parser.add_argument("-o", "--output", required=True, help="报告文件（.xlsx）")
        parser.add_argument("--as-of", help="分析日期，如 2024-06-30（默认：文件中最后一次消费的次日）")
        parser.add_argument("--currency", default=money.DEFAULT, type=str.upper, choices=list(money.CURRENCIES),
                            help="报告中金额的币种（默认 CNY 人民币；只改显示，不换算）："
                                 + "、".join(f"{c.code} {c.symbol}" for c in money.CURRENCIES.values()))

    def handle(self, *args, **opts):
        from kehu.exchange import analyze
        from kehu.exchange.values import BadValue, parse_date

        as_of = None
        if opts["as_of"]:
            try:
                as_of = parse_date(opts["as_of"])
            except BadValue as exc:
                raise CommandError(f"--as-of：{exc}") from exc
        path = Path(opts["input"])
        if not path.exists():
            raise CommandError(f"找不到文件“{path}”")
        with tempfile.TemporaryDirectory(prefix="kehu-analyze-") as scratch, money.using(opts["currency"]):
            analyze.use_scratch_database(Path(scratch) / "analyze.sqlite3")
            # read once, in the scratch store (a workbook's sheets are loaded whole: reading twice cost seconds)
            try:
                sheets = read_workbook(path)
            except UnreadableFile as exc:
                raise CommandError(str(exc)) from exc
            if not any(s.kind for s in sheets):
                raise CommandError(f"“{path.name}”里没有可识别的表格：请确认有“客户编号”“消费日期”“消费金额”等表头")
            result = analyze.analyze(path, as_of, sheets=sheets)
            analyze.write_report(result, opts["output"])
        imported = result["result"]
        self.stdout.write(imported.summary())
        customers = len(result["table"])
        self.stdout.write(f"分析日期 {result['as_of']:%Y-%m-%d}：{analyze.as_of_note(result)}")
        self.stdout.write(f"共 {customers} 位客户；报告已写入 {opts['output']}")
