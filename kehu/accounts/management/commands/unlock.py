"""kehu unlock NAME: lift a login lock-out (django-axes) now, instead of waiting for the cool-off time."""

from django.core.management.base import BaseCommand, CommandError

from kehu.accounts.lockout import unlock


class Command(BaseCommand):
    help = "解除登录锁定：kehu unlock 用户名（该用户在所有地址的锁定），或 kehu unlock --address IP（该地址的限流）。"

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", metavar="NAME", help="用户名")
        parser.add_argument("--address", help="IP 地址：解除这个地址的登录限流（含 API 令牌失败）")

    def handle(self, *args, username: str | None, address: str | None, **options):
        if not username and not address:
            raise CommandError("请给出用户名或 --address。 Give a user name or --address.")
        removed = unlock(username=username, address=address)
        who = "、".join(x for x in (username, address) if x)
        if removed:
            self.stdout.write(self.style.SUCCESS(f"已解除 {who} 的登录锁定（清除 {removed} 条失败记录）。 Unlocked."))
        else:
            self.stdout.write(f"{who} 没有失败记录，无需解锁。 Nothing to unlock.")
