"""kehu import FILE [--dry-run] [--on-duplicate update|skip|create] [--on-conflict error|skip|keep-code]
                [--reject-unknown-customers] [--report errors.xlsx] [--user NAME]
kehu import FILE --template-file 模板.json   (a column mapping exported by `kehu export mapping`)
kehu import --revert BATCH_ID"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from kehu.exchange.importer import CONFLICT_CHOICES, DUPLICATE_CHOICES, import_file, revert_batch
from kehu.exchange.mappings import apply_template, load_template
from kehu.exchange.models import ImportBatch, ImportTemplate
from kehu.exchange.readers import UnreadableFile, read_workbook
from kehu.exchange.reports import write_error_report


class Command(BaseCommand):
    help = "导入 Excel/CSV 表格（客户、消费记录、偏好、沟通记录、反馈），或撤销一次导入"

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="xlsx、xls、ods 或 csv 文件")
        parser.add_argument("--dry-run", action="store_true", help="只检查并统计，不写入数据库")
        parser.add_argument("--on-duplicate", choices=DUPLICATE_CHOICES, default="update",
                            help="遇到已有客户：update 更新（默认）、skip 跳过、create 仍新建")
        parser.add_argument("--on-conflict", choices=CONFLICT_CHOICES, default="error",
                            help="手机号（邮箱、微信号）与已有客户相同但客户编号不同：error 拒绝该行并报告（默认）、"
                                 "skip 跳过该行、keep-code 合并到已有客户并保留其编号；已有客户的编号从不被改写")
        parser.add_argument("--reject-unknown-customers", action="store_true",
                            help="消费记录中的客户不存在时拒绝该行（默认新建该客户并给出警告）")
        parser.add_argument("--report", help="把有问题的行写入这个 xlsx 文件（错误报告）")
        parser.add_argument("--user", help="以该用户身份导入（按其角色校验权限）")
        parser.add_argument("--template", help="使用已保存的导入模板（列映射）")
        parser.add_argument("--template-file", help="先导入这个模板文件（kehu 导出的 .json），再用它导入")
        parser.add_argument("--revert", type=int, metavar="BATCH_ID", help="撤销这次导入")
        parser.add_argument("--no-progress", action="store_true", help="不显示进度条")

    def handle(self, *args, **opts):
        if (problem := store_not_ready()) is not None:
            raise CommandError(problem)
        user = None
        if opts["user"]:
            user = get_user_model().objects.filter(username=opts["user"]).first()
            if user is None:
                raise CommandError(f"找不到用户“{opts['user']}”")
        if opts["revert"]:
            batch = ImportBatch.objects.filter(pk=opts["revert"]).first()
            if batch is None:
                raise CommandError(f"找不到导入批次 #{opts['revert']}")
            try:
                done = revert_batch(batch, user=user)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"已撤销导入 #{batch.pk}（{batch.file_name}）：删除或恢复 {sum(done.values())} 条记录")
            return
        if not opts["file"]:
            raise CommandError("请指定要导入的文件，或用 --revert 撤销一次导入")
        try:
            sheets = read_workbook(opts["file"])
        except UnreadableFile as exc:
            raise CommandError(str(exc)) from exc
        if opts["template_file"]:
            try:
                template = load_template(Path(opts["template_file"]).read_bytes(), user)
            except (OSError, ValueError) as exc:
                raise CommandError(f"--template-file：{exc}") from exc
            self.stdout.write(f"已导入模板“{template.name}”")
            apply_template(template, sheets)
        elif opts["template"]:
            template = ImportTemplate.objects.filter(name=opts["template"]).first()
            if template is None:
                raise CommandError(f"找不到导入模板“{opts['template']}”")
            apply_template(template, sheets)
        for s in sheets:
            self.stdout.write(f"工作表“{s.name}”：{s.kind_label}，表头在第 {s.header_row} 行，识别 {len(s.mapping)} 列")
        total = sum((s.total_rows or 0) - s.header_row for s in sheets if s.kind)
        bar = tqdm(total=max(total, 0), unit="行", disable=opts["no_progress"], file=self.stderr._out)
        try:
            result = import_file(opts["file"], user=user, on_duplicate=opts["on_duplicate"],
                                 dry_run=opts["dry_run"], sheets=sheets, progress=bar.update,
                                 on_conflict=opts["on_conflict"],
                                 unknown_customers="reject" if opts["reject_unknown_customers"] else "warn")
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        title = "试运行（未写入数据库）" if opts["dry_run"] else f"导入完成（批次 #{result.batch.pk}）"
        self.stdout.write(title)
        self.stdout.write(result.summary())
        problems = result.errors + result.warnings  # the notes are in the summary above
        for p in problems[:20]:
            self.stdout.write(f"  {p.level_label}：{p}")
        if len(problems) > 20:
            self.stdout.write(f"  ……另有 {len(problems) - 20} 条问题，请查看错误报告")
        if opts["report"]:
            rows = write_error_report(sheets, result.problems, opts["report"])
            self.stdout.write(f"错误报告已写入 {opts['report']}（{rows} 行）")
        if not opts["dry_run"] and result.batch:
            self.stdout.write(f"如需撤销：kehu import --revert {result.batch.pk}")


def store_not_ready() -> str | None:
    """Why the store cannot take an import yet (never initialised, or older than this kehu), or None.

    A SQLite file that does not exist is not created here: the message says to run `kehu init`, which makes it.
    """
    from django.db import DEFAULT_DB_ALIAS, OperationalError, connections
    from django.db.migrations.executor import MigrationExecutor

    connection = connections[DEFAULT_DB_ALIAS]
    hint = ("请先运行 kehu init 初始化客户库，再导入。\n"
            "The store is not initialised: run `kehu init` first, then import.")
    if (connection.vendor == "sqlite" and not connection.is_in_memory_db()
            and not Path(connection.settings_dict["NAME"]).exists()):
        return f"找不到客户库（{connection.settings_dict['NAME']}）。{hint}"
    try:
        executor = MigrationExecutor(connection)
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except OperationalError as exc:
        return f"无法连接客户库：{exc}\n{hint}"
    if pending:
        return (f"客户库尚未初始化或需要升级（{len(pending)} 项迁移未执行）。请先运行 kehu init，再导入。\n"
                "The store is not initialised or needs migrating: run `kehu init` first, then import.")
    return None
