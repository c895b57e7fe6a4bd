"""Orders, not lines: the rows of a purchase sheet grouped into the orders they belong to.

A sheet with an order-number column (订单号, InvoiceNo, Shopify's Name; 主订单编号 over 子订单编号) holds one
row per order line: rows sharing the number are one order, wherever they stand in the file. Without such a
column every row is an order. An order's amount is the paid column — taken once when it is the order's
(a platform profile says so), summed when it is each line's — else quantity × unit price over its lines.

Cancellations and returns are not purchases: a negative line nets against its order; an order whose net is
negative or whose number carries the cancel prefix (UCI: C536379) is kept as refunded; a refunded or
cancelled status keeps the order as refunded when it was paid and leaves it out when it never was.
Refunded orders are not counted in frequency or spend. What was done is summed up as information.

    for groups in chunks(sheet, 2000): ...            # lists of [(row, record), …] per order
    combine(lines, profile)                           # → Combined
"""

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from . import values as v
from .profiles import Profile
from .readers import Sheet, unguard

CENT = Decimal("0.01")
ORDER_KEYS = ("parent_number", "number")


def order_key(record: dict) -> str:
    """The number that names a row's order ('' when the row is an order of its own)."""
    for key in ORDER_KEYS:
        if text := v.cell_text(record.get(key)):
            return text
    return ""


def _key_columns(sheet: Sheet) -> list[int]:
    return [i for key in ORDER_KEYS for i, f in sheet.mapping.items() if f == key]


def has_order_numbers(sheet: Sheet) -> bool:
    return bool(_key_columns(sheet))


def _last_rows(sheet: Sheet) -> dict[str, int]:
    """Order number → the last row it appears on (a first pass over just the number columns)."""
    columns = _key_columns(sheet)
    last: dict[str, int] = {}
    for number, cells in sheet.rows():
        for i in columns:
            text = unguard(v.cell_text(cells[i])) if i < len(cells) else ""
            if text:
                last[text] = number
                break
    return last


IDENTITY = ("code", "mobile", "email", "wechat", "name")


def by_customer(lines: list[tuple[int, dict]]) -> list[list[tuple[int, dict]]]:
    """Rows sharing a number but naming different customers are different orders (a shop numbering its
    receipts from 1 each day). A row naming no one belongs with the row above it (Shopify fills the
    customer on an order's first line only)."""
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    current: tuple = ()
    for number, record in lines:
        who = tuple(v.cell_text(record.get(k)) for k in IDENTITY)
        if any(who):
            current = who
        groups.setdefault(current, []).append((number, record))
    return list(groups.values())


def chunks(sheet: Sheet, size: int) -> Iterator[list[list[tuple[int, dict]]]]:
    """Whole orders, about `size` rows at a time; an order's lines come together even when scattered."""
    last = _last_rows(sheet) if _key_columns(sheet) else {}
    open_orders: dict[str, list[tuple[int, dict]]] = {}
    ready: list[list[tuple[int, dict]]] = []
    ready_rows = 0
    for number, record, _ in sheet.records():
        key = order_key(record)
        if not key:
            ready.append([(number, record)])
            ready_rows += 1
        else:
            lines = open_orders.setdefault(key, [])
            lines.append((number, record))
            if number >= last.get(key, number):
                ready.extend(by_customer(open_orders.pop(key)))
                ready_rows += len(lines)
        if ready_rows >= size:
            yield ready
            ready, ready_rows = [], 0
    for lines in open_orders.values():
        ready.extend(by_customer(lines))
    if ready:
        yield ready


def fallback_code(profile: Profile, record: dict) -> str:
    """A stable customer code from the profile's fallback columns (receiver + address) when a row has no
    buyer ID and no usable phone: 'pdd-3fa9c2d1e0'. '' when those columns are empty."""
    parts = [v.cell_text(record.get(k)) for k in profile.fallback_key]
    if not profile.fallback_key or not all(parts):
        return ""
    digest = hashlib.sha1("\x1f".join(parts).encode()).hexdigest()[:10]
    return f"{profile.key}-{digest}"


@dataclass
class Line:
    """One row of an order, read: amounts may be negative (returns), anything may be missing."""

    status: str = ""
    items: list[str] = field(default_factory=list)
    category: str = ""
    quantity: Decimal | None = None
    unit_price: Decimal | None = None
    amount: Decimal | None = None
    refund: Decimal | None = None
    unpaid: bool = False  # the file has a payment-time column and this row's is empty


@dataclass
class Combined:
    amount: Decimal
    status: str  # "completed" or "refunded"; "" when the order is left out
    lines: list[tuple[str, str, Decimal, Decimal]]  # product, category, quantity, unit price
    cancellation: bool = False  # a cancellation or return document
    netted: bool = False  # returns or refunds were netted against the order
    unknown_status: str = ""


def _order_level(values: list[Decimal], per: str) -> Decimal | None:
    if not values:
        return None
    return values[0] if per == "order" else sum(values, Decimal(0))


def combine(number: str, lines: list[Line], profile: Profile | None, counted) -> Combined:
    """One order from its lines. `counted(status text)` → True/False/None (see Profile.status)."""
    per = profile.amount_per if profile else "line"
    paid = _order_level([x.amount for x in lines if x.amount is not None], per)
    if paid is None:
        paid = sum(((x.quantity if x.quantity is not None else Decimal(1)) * x.unit_price
                    for x in lines if x.unit_price is not None), Decimal(0))
    gross = paid.quantize(CENT, ROUND_HALF_UP)
    refund = (_order_level([x.refund for x in lines if x.refund is not None], per) or Decimal(0)).quantize(CENT)
    net = gross - refund
    status_text = next((x.status for x in lines if x.status), "")
    counts = counted(status_text) if status_text else True
    negative_line = any((x.quantity or 0) < 0 or (x.amount or 0) < 0 for x in lines)
    prefix = profile.cancel_prefix if profile else ""
    result = Combined(net, "completed", _order_lines(lines, gross), unknown_status="" if counts is not None
                      else status_text)
    if (prefix and number.upper().startswith(prefix.upper())) or net < 0:
        result.amount, result.status, result.cancellation = abs(net), "refunded", True
    elif counts is False or (refund > 0 and net <= 0):
        never_paid = gross <= 0 or all(x.unpaid for x in lines)
        result.amount, result.status = gross, ("" if never_paid else "refunded")
    else:
        result.netted = refund > 0 or negative_line
    return result


def _order_lines(lines: list[Line], gross: Decimal) -> list[tuple[str, str, Decimal, Decimal]]:
    """Products of the order with their net quantity (a returned line takes back from its product)."""
    priced = [x for x in lines if x.items]
    totals: dict[str, list] = {}
    for x in priced:
        if len(x.items) == 1:
            qty = x.quantity if x.quantity is not None else Decimal(1)
            if x.unit_price is not None:
                price = x.unit_price
            elif x.amount is not None and qty:
                price = x.amount / qty
            elif len(priced) == 1 and qty:
                price = gross / qty
            else:
                price = Decimal(0)
            entries = [(x.items[0], qty, price)]
        else:  # several items in one cell: one each, the amount shared out so the lines add up
            amount = x.amount if x.amount is not None else (gross if len(priced) == 1 else Decimal(0))
            share = (amount / len(x.items)).quantize(CENT, ROUND_HALF_UP)
            entries = [(name, Decimal(1), share) for name in x.items[:-1]]
            entries.append((x.items[-1], Decimal(1), amount - share * (len(x.items) - 1)))
        for name, qty, price in entries:
            slot = totals.setdefault(name, [x.category, Decimal(0), price])
            slot[1] += qty
            if qty > 0:
                slot[2] = price
    return [(name, category, qty, max(price, Decimal(0)).quantize(CENT, ROUND_HALF_UP))
            for name, (category, qty, price) in totals.items() if qty > 0]


@dataclass
class Tally:
    """What grouping did on one sheet, for the information lines of the import report."""

    rows: int = 0
    orders: int = 0
    counted: int = 0
    refunded: int = 0
    left_out: int = 0
    netted: int = 0
    cancellations: list[str] = field(default_factory=list)
    cancelled_amount: Decimal = Decimal(0)
    anonymous: int = 0
    unknown_statuses: set[str] = field(default_factory=set)

    def count(self, number: str, order: Combined) -> None:
        if order.cancellation:
            self.cancellations.append(number)
            self.cancelled_amount += order.amount
        elif order.status == "refunded":
            self.refunded += 1
        else:
            self.counted += 1
            self.netted += order.netted
        if order.unknown_status:
            self.unknown_statuses.add(order.unknown_status)

    def notes(self, grouped: bool) -> list[str]:
        out = []
        if grouped:
            out.append(f"按订单号把 {self.rows} 行归为 {self.orders} 笔订单；订单数按订单号计，"
                       f"计入消费的 {self.counted} 笔")
        else:
            out.append(f"没有订单号列：每行算一笔订单，共 {self.orders} 笔，计入消费的 {self.counted} 笔")
        if self.netted:
            out.append(f"{self.netted} 笔订单含退货行或部分退款，已从订单金额中冲抵")
        if self.cancellations:
            examples = "、".join(self.cancellations[:10]) + ("……" if len(self.cancellations) > 10 else "")
            out.append(f"取消/退货单 {len(self.cancellations)} 张（合计 {self.cancelled_amount:.2f}），"
                       f"记为已退款，不计入订单数和金额：{examples}")
        if self.refunded:
            out.append(f"{self.refunded} 笔订单状态为退款或关闭，记为已退款，不计入订单数和金额")
        if self.left_out:
            out.append(f"{self.left_out} 笔订单未付款即关闭或取消，未导入")
        if self.anonymous:
            out.append(f"{self.anonymous} 行没有可识别的买家（匿名购买），未导入")
        if self.unknown_statuses:
            out.append("未能识别的订单状态，已按已完成计入：" + "、".join(sorted(self.unknown_statuses)))
        return out
