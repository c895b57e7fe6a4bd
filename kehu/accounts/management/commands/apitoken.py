from django.core.management.base import BaseCommand, CommandError

from kehu.accounts.models import User
from kehu.accounts.tokens import issue_token


class Command(BaseCommand):
    help = "为用户生成一个 API 令牌（只显示一次，请立即保存）。用法：kehu apitoken 用户名 [--name 名称]"

    def add_arguments(self, parser):
        parser.add_argument("username", help="用户名")
        parser.add_argument("--name", default="", help="令牌名称，便于辨认用途，如“ERP 同步”")

    def handle(self, *args, username: str, name: str, **options):
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"没有用户“{username}”")
        if not user.is_active:
            raise CommandError(f"用户“{username}”已停用，不能生成令牌")
        token, raw = issue_token(user, name)
        self.stderr.write(f"已为 {user.username}（{user.get_role_display()}）生成令牌 {token.prefix}…，"
                          "它只显示这一次，请妥善保存：")
        self.stdout.write(raw)
        self.stderr.write("调用 API 时在请求头中加入：Authorization: Bearer <令牌>")
