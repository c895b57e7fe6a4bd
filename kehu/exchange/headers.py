"""Recognising what merchants' spreadsheets hold: header synonyms and sheet kinds.

A header such as “手机号码”, “Mobile” or “联系方式” means the field `mobile`; a sheet named “消费记录”
or whose headers include a date and an amount holds purchases. Field keys are the names the forms
use (CustomerForm, OrderForm, …), so a mapping can be handed straight to validation.
"""

import functools
import re

from django.conf import settings
from django.utils import translation
from django.utils.functional import Promise
from django.utils.translation import gettext, gettext_noop

CUSTOMERS = "customers"
PURCHASES = "purchases"
PREFERENCES = "preferences"
COMMUNICATIONS = "communications"
FEEDBACK = "feedback"

KINDS = {
    CUSTOMERS: gettext_noop("客户信息"),
    PURCHASES: gettext_noop("消费记录"),
    PREFERENCES: gettext_noop("偏好信息"),
    COMMUNICATIONS: gettext_noop("沟通记录"),
    FEEDBACK: gettext_noop("客户反馈"),
}
# Sheets are imported in this order: customers first, so the other sheets can refer to them.
KIND_ORDER = [CUSTOMERS, PURCHASES, PREFERENCES, COMMUNICATIONS, FEEDBACK]

# Fields that name a customer on any sheet.
IDENTITY = {
    "code": ["客户编号", "编号", "会员号", "会员编号", "会员卡号", "客户id", "客户代码", "id", "code",
             "customer code", "customer id", "customerid", "member id", "买家会员名", "买家昵称"],
    "name": ["姓名", "客户名称", "客户姓名", "名字", "客户", "会员姓名", "联系人", "收货人", "收货人姓名", "买家姓名",
             "name", "customer", "customer name", "full name"],
    "mobile": ["手机", "手机号", "手机号码", "联系方式", "联系电话", "电话", "电话号码", "移动电话", "收货人手机",
               "收货人电话", "联系手机", "mobile", "phone", "mobile phone", "cell", "telephone", "tel"],
    "email": ["电子邮箱", "邮箱", "电子邮件", "邮件", "邮箱地址", "email", "e-mail", "mail", "email address"],
    "wechat": ["微信", "微信号", "微信id", "wechat", "wechat id", "weixin", "wx"],
}

CUSTOMER_SYNONYMS = {
    "gender": ["性别", "gender", "sex"],
    "birthday": ["生日", "出生日期", "出生年月", "birthday", "date of birth", "birth date", "dob"],
    "province": ["省份", "省", "所在省份", "province", "state"],
    "city": ["城市", "市", "所在城市", "city"],
    "district": ["区县", "区", "县", "区/县", "district", "county"],
    "address": ["地址", "联系地址", "收货地址", "详细地址", "通讯地址", "住址", "address"],
}
# Customer fields a purchase row may carry; with one of them mapped, each row also imports its customer.
ROW_CUSTOMER_FIELDS = tuple(CUSTOMER_SYNONYMS)

FIELDS: dict[str, dict[str, list[str]]] = {
    CUSTOMERS: {
        **IDENTITY,
        "kind": ["客户类型", "类型", "type", "customer type"],
        **CUSTOMER_SYNONYMS,
        "registered_at": ["注册时间", "注册日期", "入会时间", "入会日期", "开卡日期", "建档日期", "创建时间",
                          "registered", "registered at", "registration date", "join date", "signup date"],
        "source": ["来源", "来源渠道", "客户来源", "获客渠道", "source", "channel source"],
        "company": ["公司", "公司名称", "单位", "企业名称", "company", "company name", "organization"],
        "industry": ["行业", "所属行业", "industry"],
        "company_size": ["公司规模", "企业规模", "规模", "人数规模", "company size", "size"],
        "grade": ["客户评级", "评级", "等级", "客户等级", "会员等级", "grade", "level", "rating"],
        "owner": ["负责人", "所属销售", "销售", "客户经理", "跟进人", "owner", "sales rep", "account manager"],
        "tag_names": ["标签", "客户标签", "tags", "tag", "labels"],
        "notes": ["备注", "说明", "notes", "note", "remark", "remarks", "comment"],
    },
    PURCHASES: {
        **IDENTITY,
        "ordered_at": ["消费日期", "购买日期", "下单时间", "日期", "消费时间", "购买时间", "下单日期", "订单日期",
                       "交易时间", "付款时间", "支付时间", "订单付款时间", "支付完成时间", "order date",
                       "purchase date", "date", "ordered at", "invoicedate", "invoice date", "paid at"],
        "amount": ["消费金额", "金额", "实付金额", "实付金额(元)", "订单金额", "实付款", "支付金额", "交易金额",
                   "买家实际支付金额", "实收金额", "amount", "total", "order amount", "paid", "revenue"],
        "product": ["消费项目", "商品", "商品名称", "购买商品", "项目", "产品", "产品名称", "宝贝标题", "商品标题",
                    "item", "items", "product", "product name", "description"],
        "category": ["品类", "商品品类", "类别", "商品类别", "分类", "category"],
        "quantity": ["数量", "购买数量", "件数", "qty", "quantity"],
        "unit_price": ["单价", "商品单价", "unit price", "unitprice", "price"],
        "payment_method": ["支付方式", "付款方式", "支付渠道", "payment", "payment method"],
        "sales_channel": ["销售渠道", "购买渠道", "下单渠道", "渠道", "sales channel", "channel"],
        "number": ["订单号", "订单编号", "单号", "流水号", "子订单编号", "order number", "order no", "order id",
                   "invoiceno", "invoice no", "invoice number"],
        "parent_number": ["主订单编号", "主订单号", "父订单号", "parent order", "parent order number"],
        "created_at": ["创建时间", "订单创建时间", "订单提交时间", "created at", "created"],
        "refund": ["退款金额", "已退款金额", "退款金额(元)", "refunded amount", "refund amount", "amount refunded"],
        "status": ["订单状态", "状态", "status"],
        "note": ["备注", "订单备注", "note", "remark"],
        # A row may also describe its customer (a shop's one-sheet ledger): these import into the customer.
        **{key: CUSTOMER_SYNONYMS[key] for key in ROW_CUSTOMER_FIELDS},
    },
    PREFERENCES: {
        **IDENTITY,
        "categories": ["商品偏好", "偏好品类", "喜欢的品类", "偏好商品", "偏好", "category preference",
                       "preferred categories", "favourite categories"],
        "preferred_channel": ["营销渠道偏好", "偏好渠道", "偏好营销渠道", "营销渠道", "联系偏好",
                              "preferred channel", "marketing channel"],
        "consent": ["营销授权", "同意营销", "接受营销", "营销许可", "consent", "marketing consent"],
        "pref_notes": ["偏好说明", "偏好备注", "preference notes"],
    },
    COMMUNICATIONS: {
        **IDENTITY,
        "occurred_at": ["沟通日期", "沟通时间", "联系日期", "联系时间", "跟进日期", "日期", "date", "contact date"],
        "method": ["沟通方式", "联系方式类型", "跟进方式", "方式", "method", "contact method"],
        "content": ["沟通内容", "联系内容", "跟进内容", "内容", "沟通记录", "content", "summary"],
        "outcome": ["沟通结果", "结果", "跟进结果", "outcome", "result"],
        "next_follow_up": ["下次跟进日期", "下次跟进", "下次联系日期", "next follow-up", "next follow up"],
    },
    FEEDBACK: {
        **IDENTITY,
        "received_at": ["反馈日期", "反馈时间", "评价日期", "评价时间", "日期", "date", "feedback date"],
        "comment": ["评价内容", "反馈内容", "评价", "反馈", "意见", "comment", "feedback"],
    },
}

SHEET_NAME_HINTS = {
    CUSTOMERS: ["客户", "会员", "基本信息", "档案", "customer", "member", "contact"],
    PURCHASES: ["消费", "订单", "购买", "销售", "交易", "流水", "purchase", "order", "sale", "transaction"],
    PREFERENCES: ["偏好", "喜好", "preference"],
    COMMUNICATIONS: ["沟通", "跟进", "联系记录", "拜访", "communication", "follow"],
    FEEDBACK: ["反馈", "评价", "满意度", "feedback", "review", "rating"],
}

# Fields that, found in the headers, say which kind a sheet is (beyond the identity columns).
DISTINCTIVE = {
    CUSTOMERS: {"gender", "birthday", "province", "city", "address", "registered_at", "company", "grade",
                "tag_names", "industry", "kind"},
    PURCHASES: {"ordered_at", "amount", "product", "payment_method", "quantity", "unit_price", "number",
                "parent_number", "refund"},
    PREFERENCES: {"categories", "preferred_channel", "consent"},
    COMMUNICATIONS: {"method", "content", "outcome", "next_follow_up"},
    FEEDBACK: {"comment"},
}

# The one name of each field: the mapping page shows it, and exports and blank templates write it as the
# column's header, in the user's language. The importer recognises it in every language kehu speaks
# (translated()), so whatever kehu writes it reads back.
LABELS = {  # gettext_noop: the catalogue holds them; shown and written translated
    "code": gettext_noop("客户编号"), "name": gettext_noop("姓名"), "mobile": gettext_noop("手机"),
    "email": gettext_noop("电子邮箱"), "wechat": gettext_noop("微信号"), "kind": gettext_noop("客户类型"),
    "gender": gettext_noop("性别"), "birthday": gettext_noop("生日"), "province": gettext_noop("省份"),
    "city": gettext_noop("城市"), "district": gettext_noop("区县"), "address": gettext_noop("详细地址"),
    "registered_at": gettext_noop("注册时间"), "source": gettext_noop("来源渠道"), "company": gettext_noop("公司"),
    "industry": gettext_noop("行业"), "company_size": gettext_noop("公司规模"), "grade": gettext_noop("客户评级"),
    "owner": gettext_noop("负责人"), "tag_names": gettext_noop("标签"), "notes": gettext_noop("备注"),
    "ordered_at": gettext_noop("消费日期"), "amount": gettext_noop("消费金额"), "product": gettext_noop("消费项目"),
    "category": gettext_noop("品类"), "quantity": gettext_noop("数量"), "unit_price": gettext_noop("单价"),
    "payment_method": gettext_noop("支付方式"), "sales_channel": gettext_noop("销售渠道"),
    "number": gettext_noop("订单号"), "parent_number": gettext_noop("主订单号"),
    "created_at": gettext_noop("下单时间"), "refund": gettext_noop("退款金额"), "status": gettext_noop("订单状态"),
    "note": gettext_noop("备注"), "categories": gettext_noop("商品偏好"),
    "preferred_channel": gettext_noop("营销渠道偏好"), "consent": gettext_noop("营销授权"),
    "pref_notes": gettext_noop("偏好说明"), "occurred_at": gettext_noop("沟通日期"),
    "method": gettext_noop("沟通方式"), "content": gettext_noop("沟通内容"), "outcome": gettext_noop("沟通结果"),
    "next_follow_up": gettext_noop("下次跟进日期"), "received_at": gettext_noop("反馈日期"),
    "comment": gettext_noop("评价内容"),
}

_BRACKETS = str.maketrans({"（": "(", "）": ")", "【": "(", "】": ")", "[": "(", "]": ")", "：": "", ":": "",
                           "*": "", "＊": "", "_": " ", "\n": "", "\r": "", "\t": ""})
_PAREN = re.compile(r"\([^)]*\)")


def normalize_header(text: object) -> str:
    """'  实付金额（元）* ' → '实付金额(元)'; 'Mobile_Phone' → 'mobile phone'."""
    s = str(text if text is not None else "").strip().lower().translate(_BRACKETS)
    s = re.sub(r"\s+", " ", s).strip()
    # Chinese headers carry no meaningful spaces: '手机 号码' is '手机号码'.
    if re.search(r"[\u4e00-\u9fff]", s):
        s = s.replace(" ", "")
    return s


def translated(message: str | Promise) -> list[str]:
    """A message (a msgid or a lazy label) in every language kehu speaks, 简体中文 first: what kehu may have
    written for it."""
    out = []
    for code, _name in settings.LANGUAGES:
        with translation.override(code):
            out.append(gettext(message) if isinstance(message, str) else str(message))
    return list(dict.fromkeys(out))


@functools.cache
def _index(kind: str) -> dict[str, str]:
    """Normalised header → field for a sheet of `kind`: the synonyms first, then each field's label in every
    language (built on first use, when the catalogues are loaded)."""
    index: dict[str, str] = {}
    for key, synonyms in FIELDS[kind].items():
        for syn in synonyms:
            index.setdefault(normalize_header(syn), key)
    for key in FIELDS[kind]:
        for label in translated(LABELS[key]):
            index.setdefault(normalize_header(label), key)
    return index


def extra_fields(kind: str) -> dict[str, str]:
    """Headers defined by the shop itself: custom customer fields (cf_<key>) and feedback dimensions."""
    from kehu.customers.models import CustomField
    from kehu.engagement.models import FeedbackDimension

    if kind == CUSTOMERS:
        return {normalize_header(cf.label): f"cf_{cf.key}" for cf in CustomField.objects.all()}
    if kind == FEEDBACK:
        return {normalize_header(d.name): f"score_{d.pk}" for d in FeedbackDimension.objects.filter(active=True)}
    return {}


def field_for(header: object, kind: str, extra: dict[str, str] | None = None) -> str | None:
    """The field a header means on a sheet of `kind`, or None."""
    h = normalize_header(header)
    if not h:
        return None
    index = _index(kind)
    for candidate in (h, _PAREN.sub("", h).strip()):
        if extra and candidate in extra:
            return extra[candidate]
        if candidate in index:
            return index[candidate]
    return None


def map_headers(headers: list[object], kind: str, extra: dict[str, str] | None = None) -> dict[int, str]:
    """Column index → field, first column winning when two headers mean the same field."""
    mapping: dict[int, str] = {}
    taken: set[str] = set()
    for i, header in enumerate(headers):
        field = field_for(header, kind, extra)
        if field and field not in taken:
            mapping[i] = field
            taken.add(field)
    return mapping


def recognised_count(headers: list[object]) -> int:
    """How many cells of a row look like headers of any kind (to find the header row)."""
    return sum(1 for h in headers if any(field_for(h, kind) for kind in KIND_ORDER))


@functools.cache
def _sheet_hints(kind: str) -> list[str]:
    """Words a sheet's name holds when it is of `kind`: the hints, and the name kehu gives such a sheet in every
    language (客户信息, Customers)."""
    return SHEET_NAME_HINTS[kind] + [name.lower() for name in translated(KINDS[kind])]


def guess_kind(sheet_name: str, headers: list[object]) -> str | None:
    """The kind of a sheet from its name and headers; None when it looks like nothing we know."""
    name = (sheet_name or "").lower()
    scores: dict[str, int] = {}
    for kind in KIND_ORDER:
        fields = set(map_headers(headers, kind).values())
        score = 2 * len(fields & DISTINCTIVE[kind])
        if any(hint in name for hint in _sheet_hints(kind)):
            score += 3
        scores[kind] = score
    # Purchases need a date and an amount (or a unit price); customer sheets need a way to name the customer.
    purchase_fields = set(map_headers(headers, PURCHASES).values())
    if "ordered_at" in purchase_fields and purchase_fields & {"amount", "unit_price"}:
        # A row with a purchase date and amount is a purchase, whatever else it says about its customer.
        return PURCHASES
    scores[PURCHASES] = min(scores[PURCHASES], 1)
    best = max(KIND_ORDER, key=lambda k: (scores[k], -KIND_ORDER.index(k)))
    if scores[best] == 0:
        customer_fields = set(map_headers(headers, CUSTOMERS).values())
        return CUSTOMERS if customer_fields & {"name", "mobile"} else None
    return best
