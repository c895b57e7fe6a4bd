"""kehu merge: merge one customer record into another."""

import json
import sys

from django.core.management.base import BaseCommand, CommandError

from kehu.accounts.models import Role, User
from kehu.customers.merge import MergeError, merge_customers
from kehu.customers.models import Customer

MOVED_LABELS = {"orders": "订单", "communications": "沟通记录", "follow_ups": "跟进任务", "feedback": "客户反馈",
                "consents": "营销授权", "preferences": "偏好信息", "tags": "标签", "merge_records": "历史合并记录"}


def describe_moved(moved: dict) -> str:
    parts = [f"{MOVED_LABELS.get(k, k)} {v}" for k, v in moved.items() if isinstance(v, int) and v]
    return "，".join(parts) or "无关联记录"


class Command(BaseCommand):
    help = ("合并两个客户：把 MERGED 的订单、沟通记录、跟进、反馈、标签等转到 KEPT，"
            "补全 KEPT 的空字段，然后删除 MERGED。")

    def add_arguments(self, parser):
        parser.add_argument("kept", metavar="KEPT_CODE", help="保留的客户编号")
        parser.add_argument("merged", metavar="MERGED_CODE", help="被合并（合并后删除）的客户编号")
        parser.add_argument("--yes", action="store_true", help="不再询问，直接合并")
        parser.add_argument("--user", help="记录为执行合并的用户名（默认第一个管理员）")

    def handle(self, *args, kept: str, merged: str, yes: bool, user: str | None, **options):
        customers = {c.code: c for c in Customer.objects.filter(code__in=[kept, merged])}
        for code in (kept, merged):
            if code not in customers:
                raise CommandError(f"找不到客户编号 {code}")
        k, m = customers[kept], customers[merged]
        actor = (User.objects.filter(username=user).first() if user
                 else User.objects.filter(role=Role.ADMIN, is_active=True).order_by("id").first())
        if user and actor is None:
            raise CommandError(f"没有用户 {user}")
        self.stdout.write(f"保留 Keep:  {k.code} {k.name}（{k.place or '—'}，订单 {k.orders.count()} 笔）")
        self.stdout.write(f"合并 Merge: {m.code} {m.name}（{m.place or '—'}，订单 {m.orders.count()} 笔）")
        if not yes:
            if not sys.stdin.isatty():
                raise CommandError("合并后被合并的客户将被删除。请确认后加 --yes 运行。 Add --yes to confirm.")
            if input("确定合并吗？[y/N] ").strip().lower() not in ("y", "yes", "是"):
                raise CommandError("已取消，未做任何更改。")
        try:
            record = merge_customers(k, m, user=actor)
        except MergeError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(self.style.SUCCESS(
            f"已将 {m.code} 合并到 {k.code}：{describe_moved(record.moved)}。 Merged."))
        filled = record.moved.get("filled_fields") or []
        if filled:
            self.stdout.write("补全的字段 Filled fields: " + json.dumps(filled, ensure_ascii=False))
