"""kehu demo: fill the store with realistic demo data."""

from django.core.management.base import BaseCommand, CommandError

from kehu.ops.demo import DEMO_PASSWORD, DemoDataPresent, demo_present, load_demo
from kehu.ops.store import pending_migrations


class Command(BaseCommand):
    help = "生成逼真的演示数据（客户、订单、偏好、沟通、跟进、反馈）和各角色的演示账号。同一种子生成相同数据。"

    def add_arguments(self, parser):
        parser.add_argument("--customers", type=int, default=2000, help="客户数量（默认 2000）")
        parser.add_argument("--seed", type=int, default=42, help="随机种子（默认 42）；相同种子生成相同数据")
        parser.add_argument("--reset", action="store_true",
                            help="先删除现有的全部客户、订单、商品和标签（不可恢复！），再生成演示数据")
        parser.add_argument("--keep", action="store_true",
                            help="已有客户时保留现有数据（make demo 再次运行时）Keep a store that has customers")

    def handle(self, *args, customers: int, seed: int, reset: bool, keep: bool, **options):
        if customers < 1:
            raise CommandError("--customers 至少为 1")
        if reset and keep:
            raise CommandError("--reset 与 --keep 不能同时使用 --reset and --keep exclude each other")
        if pending_migrations():
            raise CommandError("数据库尚未初始化或需要升级，请先运行 kehu init")
        if keep and demo_present():
            self.stdout.write("客户库中已有客户数据，保留现有数据，未生成演示数据（make demo RESET=1 可清空重来）。\n"
                              "The store already has customers; kept as it is (make demo RESET=1 starts over).")
            self.stdout.write(f"演示密码 Demo password: {DEMO_PASSWORD}")
            return
        try:
            result = load_demo(customers=customers, seed=seed, reset=reset, progress=options["verbosity"] > 0)
        except DemoDataPresent as exc:
            raise CommandError(
                f"{exc}，未生成演示数据。如确定要清空现有客户数据并重新生成，请加 --reset。\n"
                "The store already has customers; add --reset to delete them and load demo data.") from exc
        out = self.stdout
        out.write(self.style.SUCCESS(
            f"演示数据已生成（用时 {result.seconds:.1f} 秒）：客户 {result.customers} 位，订单 {result.orders} 笔"
            f"（明细 {result.order_lines} 行），沟通记录 {result.communications} 条，跟进任务 {result.follow_ups} 个，"
            f"客户反馈 {result.feedback} 条。"))
        out.write(f"Demo data loaded in {result.seconds:.1f}s.")
        if result.classify_error:
            self.stderr.write(self.style.WARNING(
                f"客户指标和分层未能计算（{result.classify_error}）。请稍后运行 kehu segment --full。"))
        out.write(f"演示账号 Demo users: {', '.join(result.users)}（经理、销售×2、客服、只读）")
        out.write(f"演示密码 Demo password: {result.password}")
        out.write("管理员账号由 kehu init 创建。 The admin account comes from `kehu init`.")
