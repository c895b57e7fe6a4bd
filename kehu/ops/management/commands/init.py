"""kehu init: create or migrate the store and its first admin."""

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kehu.accounts.credentials import check_new_credentials
from kehu.accounts.models import Role, User
from kehu.ops.store import database_label, init_store


class Command(BaseCommand):
    help = "初始化客户库：创建或升级数据库，并在没有管理员时创建第一个管理员。可重复运行。"

    def add_arguments(self, parser):
        parser.add_argument("--username", default="admin", help="第一个管理员的用户名（默认 admin）")
        parser.add_argument("--password", help="第一个管理员的密码；不填则自动生成并显示一次")

    def handle(self, *args, username: str, password: str | None, **options):
        try:
            check_new_credentials(User(username=username, role=Role.ADMIN), password or None)
        except ValidationError as exc:
            raise CommandError("用户名或密码不符合要求：" + "；".join(exc.messages)) from exc
        try:
            result = init_store(username=username, password=password)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc

        out = self.stdout
        out.write(f"数据库 Database: {database_label()}")
        if result.database_created:
            out.write("已创建数据库。 Database created.")
        if result.migrations_applied:
            out.write(f"已完成数据库迁移（{len(result.migrations_applied)} 项）。 "
                      f"Applied {len(result.migrations_applied)} migrations.")
        for path, old, new in result.modes_repaired:
            out.write(f"已收紧权限 Made private: {path} {old:04o} → {new:04o}")
        if result.dimensions_created:
            out.write("已添加默认评价维度 Default feedback dimensions: " + "、".join(result.dimensions_created))
        if result.admin_username:
            out.write(self.style.SUCCESS(
                f"已创建管理员 Created admin: {result.admin_username}"))
            if result.admin_password:
                bar = "=" * 60
                out.write(bar)
                out.write(f"  用户名 Username: {result.admin_username}")
                out.write(f"  密码   Password: {result.admin_password}")
                out.write("  请立即记下此密码，它只显示这一次。")
                out.write("  Write this password down now; it is shown only once.")
                out.write(bar)
        else:
            out.write(f"已有管理员 Admin exists: {'、'.join(result.existing_admins)}")
        if not result.changed:
            out.write(self.style.SUCCESS("客户库已是最新状态，无需更改。 The store is up to date; nothing changed."))
        else:
            out.write(self.style.SUCCESS("初始化完成。运行 kehu serve 启动服务。 Done; run `kehu serve` to start."))
