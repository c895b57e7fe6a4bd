"""kehu dedupe: list likely duplicate customers."""

import unicodedata

from django.core.management.base import BaseCommand

from kehu.customers.dedupe import find_likely_duplicates


def width(text: str) -> int:
    """Columns a string takes in a terminal (Chinese characters take two)."""
    return sum(2 if unicodedata.east_asian_width(ch) in "WF" else 1 for ch in text)


def pad(text: str, cols: int) -> str:
    return text + " " * max(0, cols - width(text))


def table(header: list[str], rows: list[list[str]]) -> list[str]:
    cols = [max(width(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(pad(h, c) for h, c in zip(header, cols, strict=True)).rstrip()]
    lines.append("  ".join("-" * c for c in cols))
    lines += ["  ".join(pad(v, c) for v, c in zip(row, cols, strict=True)).rstrip() for row in rows]
    return lines


class Command(BaseCommand):
    help = "列出疑似重复的客户：手机号、邮箱或微信号相同，或姓名和城市相同。合并请用 kehu merge 或网页上的“合并”。"

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=0, help="最多列出多少组（默认全部）")

    def handle(self, *args, limit: int, **options):
        groups = find_likely_duplicates(limit=limit or None)
        if not groups:
            self.stdout.write(self.style.SUCCESS("没有发现疑似重复的客户。 No likely duplicates found."))
            return
        rows = []
        for number, group in enumerate(groups, start=1):
            kept = group.suggested_kept()
            for i, c in enumerate(group.customers):
                rows.append([
                    str(number) if i == 0 else "",
                    group.reason if i == 0 else "",
                    c.code, c.name, c.get_kind_display(), c.city or "—",
                    f"{c.registered_at:%Y-%m-%d}", str(c.order_count),
                    c.owner.display_name if c.owner_id else "—",
                    "建议保留" if c.pk == kept.pk else "",
                ])
        header = ["组", "原因", "客户编号", "姓名/名称", "类型", "城市", "注册日期", "订单数", "负责人", ""]
        for line in table(header, rows):
            self.stdout.write(line)
        self.stdout.write("")
        self.stdout.write(f"共 {len(groups)} 组疑似重复客户。 {len(groups)} groups of likely duplicates.")
        first = groups[0]
        kept = first.suggested_kept()
        other = next(c for c in first.customers if c.pk != kept.pk)
        self.stdout.write(f"合并示例 To merge: kehu merge {kept.code} {other.code}"
                          "（保留前者，后者的订单等记录转入前者）")
