"""kehu apitoken: issue a personal API token (shown once), list tokens, revoke one or all of a user's."""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from kehu.accounts.models import TOKEN_DAYS, ApiToken, User
from kehu.accounts.tokens import REVOKED_BY_HAND, issue_token

MAX_DAYS = 3650


def _when(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M") if moment else "—"


class Command(BaseCommand):
    help = ("API 令牌：kehu apitoken 用户名 [--name 名称] [--days 90] 生成（只显示一次）；"
            "kehu apitoken --list [用户名] 列出；kehu apitoken --revoke 编号或前缀 撤销；"
            "kehu apitoken 用户名 --revoke-all 撤销该用户全部令牌。")

    def add_arguments(self, parser):
        parser.add_argument("username", nargs="?", help="用户名")
        parser.add_argument("--name", default="", help="令牌名称，便于辨认用途，如“ERP 同步”")
        parser.add_argument("--days", type=int, default=TOKEN_DAYS,
                            help=f"有效天数（默认 {TOKEN_DAYS}，最多 {MAX_DAYS}）")
        parser.add_argument("--list", dest="listing", action="store_true", help="列出令牌（给出用户名则只列该用户的）")
        parser.add_argument("--revoke", metavar="ID_OR_PREFIX", help="撤销一个令牌：列表中的编号或令牌前缀")
        parser.add_argument("--revoke-all", action="store_true", help="撤销该用户的全部令牌")

    def handle(self, *args, username: str | None, name: str, days: int, listing: bool, revoke: str | None,
               revoke_all: bool, **options):
        user = self._user(username) if username else None
        if listing:
            return self._list(user)
        if revoke:
            return self._revoke(revoke)
        if user is None:
            raise CommandError("请给出用户名。 Give a user name.")
        if revoke_all:
            n = user.api_tokens.revoke(REVOKED_BY_HAND)
            self.stdout.write(f"已撤销 {user.username} 的 {n} 个令牌。 Revoked {n} tokens.")
            return
        if not user.is_active:
            raise CommandError(f"用户“{username}”已停用，不能生成令牌")
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days 须在 1 到 {MAX_DAYS} 之间")
        token, raw = issue_token(user, name, days)
        self.stderr.write(f"已为 {user.username}（{user.get_role_display()}）生成令牌 {token.prefix}…，"
                          f"有效期至 {_when(token.expires_at)}。它只显示这一次，请妥善保存：")
        self.stdout.write(raw)
        self.stderr.write("调用 API 时在请求头中加入：Authorization: Bearer <令牌>")

    def _user(self, username: str) -> User:
        user = User.objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"没有用户“{username}”")
        return user

    def _list(self, user: User | None) -> None:
        tokens = ApiToken.objects.select_related("user").order_by("user__username", "-created_at")
        if user is not None:
            tokens = tokens.filter(user=user)
        self.stdout.write("编号\t前缀\t用户\t名称\t创建\t到期\t最近使用\t状态")
        for t in tokens:
            self.stdout.write("\t".join([str(t.pk), t.prefix, t.user.username, t.name or "—", _when(t.created_at),
                                         _when(t.expires_at), _when(t.last_used_at), t.state]))

    def _revoke(self, key: str) -> None:
        found = ApiToken.objects.filter(pk=int(key)) if key.isdigit() else ApiToken.objects.filter(prefix=key)
        if found.count() != 1:
            raise CommandError(f"没有唯一的令牌“{key}”（{found.count()} 个匹配），请用 --list 中的编号")
        token = found.get()
        if ApiToken.objects.filter(pk=token.pk).revoke(REVOKED_BY_HAND) == 0:
            self.stdout.write(f"令牌 {token.prefix}… 早已撤销。 Already revoked.")
            return
        self.stdout.write(f"已撤销令牌 {token.prefix}…（{token.user.username}）。 Revoked.")
