"""Platform export profiles: how the order export of 淘宝, 京东, 拼多多, Shopify … maps to kehu's fields.

A profile is data, one TOML file per platform beside this module (a new platform is a new file):

    name = "淘宝/天猫"                      # shown to the user
    source = "…"                           # where the column list comes from
    signature = ["订单编号", "买家会员名"]   # all of these headers present → this export
    amount_per = "order"                   # the paid amount is the order's ("order") or each line's ("line")
    cancel_prefix = ""                     # an order number starting with this is a cancellation (UCI: "C")
    sales_channel = "platform"             # 销售渠道 of its orders (platform: 电商平台; online: 线上商城)
    fallback_key = ["name", "address"]     # the customer when a row has no buyer ID and no usable phone
    [columns]                              # header → field (see headers.FIELDS[PURCHASES])
    "订单编号" = "number"
    [statuses]
    counted = ["交易成功"]                  # purchases
    not_counted = ["交易关闭"]              # refunded or cancelled: kept as refunded when paid, else left out

Headers are compared normalised (headers.normalize_header: case, spaces, full-width brackets), so a
trailing space or 「实付金额（元）」 still matches.
"""

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from .. import headers as h

FOLDER = Path(__file__).parent
# Fields several columns may fill together (WooCommerce's first and last name), joined with a space.
JOINED = {"name"}


@dataclass(frozen=True)
class Profile:
    key: str
    name: str
    source: str
    signature: frozenset[str]
    columns: dict[str, str]
    amount_per: str = "order"
    cancel_prefix: str = ""
    sales_channel: str = "platform"
    fallback_key: tuple[str, ...] = ()
    counted: frozenset[str] = frozenset()
    not_counted: frozenset[str] = frozenset()

    def mapping(self, headers: list[object]) -> dict[int, str]:
        """Column index → field for this export's header row (first column wins for a field)."""
        mapping: dict[int, str] = {}
        for i, header in enumerate(headers):
            field = self.columns.get(h.normalize_header(header))
            if field and (field not in mapping.values() or field in JOINED):
                mapping[i] = field
        return mapping

    def status(self, text: str) -> bool | None:
        """True: the order counts; False: refunded or cancelled; None: a status this profile does not list."""
        key = h.normalize_header(text)
        if key in self.counted:
            return True
        if key in self.not_counted:
            return False
        return None


def _load(path: Path) -> Profile:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    fields = set(h.FIELDS[h.PURCHASES])
    columns = {h.normalize_header(k): v for k, v in data["columns"].items()}
    unknown = set(columns.values()) - fields
    if unknown:
        raise ValueError(f"{path.name}: unknown fields {sorted(unknown)}")
    statuses = data.get("statuses", {})
    return Profile(
        key=path.stem, name=data["name"], source=data["source"],
        signature=frozenset(h.normalize_header(x) for x in data["signature"]), columns=columns,
        amount_per=data.get("amount_per", "order"), cancel_prefix=data.get("cancel_prefix", ""),
        sales_channel=data.get("sales_channel", "platform"),
        fallback_key=tuple(data.get("fallback_key", ())),
        counted=frozenset(h.normalize_header(x) for x in statuses.get("counted", [])),
        not_counted=frozenset(h.normalize_header(x) for x in statuses.get("not_counted", [])),
    )


@cache
def all_profiles() -> tuple[Profile, ...]:
    return tuple(_load(p) for p in sorted(FOLDER.glob("*.toml")))


def match(headers: list[object]) -> Profile | None:
    """The profile whose signature headers are all in this header row (the most specific one wins)."""
    present = {h.normalize_header(x) for x in headers}
    found = [p for p in all_profiles() if p.signature <= present]
    return max(found, key=lambda p: len(p.signature)) if found else None


def known_count(headers: list[object]) -> int:
    """How many cells of a row are headers some profile knows (to find the header row of an export)."""
    known = {c for p in all_profiles() for c in p.columns}
    return sum(1 for x in headers if h.normalize_header(x) in known)
