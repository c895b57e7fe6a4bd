"""kehu createuser: add a person who works in kehu, with a role."""

import secrets

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from kehu.accounts.credentials import check_new_credentials
from kehu.accounts.models import Role, User

# Two-character surnames, so that 欧阳娜娜 becomes 欧阳 + 娜娜.
COMPOUND_SURNAMES = {"欧阳", "司马", "诸葛", "上官", "东方", "皇甫", "慕容", "司徒", "令狐", "夏侯", "端木", "公孙",
                     "长孙", "宇文", "尉迟", "轩辕", "呼延", "南宫", "西门", "独孤"}


def split_name(display_name: str) -> tuple[str, str]:
    """'王丽' → ('王', '丽'); '欧阳娜娜' → ('欧阳', '娜娜'); 'Li Na' → ('Na', 'Li') as (last, first)."""
    name = display_name.strip()
    if not name:
        return "", ""
    if " " in name:
        first, _, last = name.rpartition(" ")
        return last, first
    surname_len = 2 if name[:2] in COMPOUND_SURNAMES and len(name) > 2 else 1
    return name[:surname_len], name[surname_len:]


def generate_password() -> str:
    """Easy to read out and type: 4 groups of 4, no look-alike characters (same shape as kehu init's)."""
    alphabet = "abcdefghjkmnpqrstuvwxyz23456789"
    return "-".join("".join(secrets.choice(alphabet) for _ in range(4)) for _ in range(4))


def parse_role(value: str) -> str:
    for role in Role:
        if value.strip().lower() in (role.value, str(role.label)):
            return role.value
    choices = "、".join(f"{r.value}（{r.label}）" for r in Role)
    raise CommandError(f"未知角色“{value}”，可选：{choices}")


class Command(BaseCommand):
    help = "创建用户。角色：admin 管理员、manager 经理、sales 销售、service 客服、viewer 只读。"

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="NAME", help="登录用户名")
        parser.add_argument("--role", required=True, help="角色：admin/manager/sales/service/viewer（也可写中文）")
        parser.add_argument("--password", help="密码；不填则自动生成并显示一次")
        parser.add_argument("--name", default="", help="显示名，例如 王丽")
        parser.add_argument("--email", default="", help="电子邮箱（可选）")

    def handle(self, *args, username: str, role: str, password: str | None, name: str, email: str, **options):
        role = parse_role(role)
        username = username.strip()
        if not username:
            raise CommandError("用户名不能为空")
        if User.objects.filter(username__iexact=username).exists():
            raise CommandError(f"用户名 {username} 已存在")
        last, first = split_name(name)
        user = User(username=username, role=role, last_name=last, first_name=first, email=email.strip(),
                    is_staff=role == Role.ADMIN, is_superuser=role == Role.ADMIN)
        try:
            check_new_credentials(user, password or None)
        except ValidationError as exc:
            raise CommandError("用户名或密码不符合要求：" + "；".join(exc.messages)) from exc
        generated = None
        if not password:
            password = generated = generate_password()
        user.set_password(password)
        user.save()
        self.stdout.write(self.style.SUCCESS(
            f"已创建用户 {user.username}（{user.display_name}，{user.get_role_display()}）。 Created user."))
        if generated:
            self.stdout.write(f"密码 Password: {generated}")
            self.stdout.write("请把密码告知本人并记下，它只显示这一次。 Shown only once.")
