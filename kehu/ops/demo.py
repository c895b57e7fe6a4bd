"""Realistic, deterministic demo data: a shop selling clothing, beauty and food, plus some B2B buyers.

Everything random comes from one `random.Random(seed)` and one seeded `Faker("zh_CN")`, used in a
fixed order, so the same seed gives the same customers (names, codes, places, orders). Dates are
relative to today, so the history always ends near today.

The shape is meant to make segmentation interesting: a Pareto-like spend spread (few heavy buyers,
many one-off buyers), potential customers with no order, churned customers who stopped buying a
year or more ago, seasonal peaks (双十一, 618, 年货 before 春节, 中秋 gift boxes), refunds, overdue
and due-today follow-ups, and a few duplicate records to find and merge.
"""

import bisect
import datetime
import itertools
import random
import string
import time
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal

from django.contrib.auth.hashers import make_password
from django.db import transaction
from django.utils import timezone
from faker import Faker
from tqdm import tqdm

from kehu.accounts.models import Role, User
from kehu.customers.models import (
    INDUSTRY_SUGGESTIONS,
    CompanySize,
    Counter,
    Customer,
    Gender,
    Grade,
    Kind,
    MergeRecord,
    Tag,
    next_customer_codes,
)
from kehu.engagement.models import (
    Communication,
    CommunicationMethod,
    Consent,
    Feedback,
    FeedbackDimension,
    FeedbackRating,
    FollowUp,
    MarketingChannel,
    Preference,
)
from kehu.lib.phones import InvalidMobile, normalize_mobile
from kehu.sales.models import Category, Order, OrderLine, OrderStatus, PaymentMethod, Product, SalesChannel

from .store import ensure_default_dimensions

DEMO_PASSWORD = "kehu-demo-2024"
# username, role, surname, given name
DEMO_USERS = [
    ("manager", Role.MANAGER, "马", "丽"),
    ("sales1", Role.SALES, "孙", "明"),
    ("sales2", Role.SALES, "李", "强"),
    ("service", Role.SERVICE, "苏", "英"),
    ("viewer", Role.VIEWER, "魏", "东"),
]

HISTORY_DAYS = 1000  # about 2¾ years of history, ending today
CHUNK = 500  # customers planned and written at a time

# Province (weight) → city → districts. Real cities and districts.
PLACES: list[tuple[str, int, dict[str, list[str]]]] = [
    ("广东省", 18, {"广州市": ["天河区", "越秀区", "海珠区", "番禺区"],
                  "深圳市": ["南山区", "福田区", "罗湖区", "宝安区"],
                  "佛山市": ["禅城区", "南海区", "顺德区"], "东莞市": ["南城街道", "东城街道", "长安镇"]}),
    ("浙江省", 12, {"杭州市": ["西湖区", "上城区", "拱墅区", "滨江区"], "宁波市": ["海曙区", "鄞州区", "江北区"],
                  "温州市": ["鹿城区", "龙湾区", "瓯海区"]}),
    ("江苏省", 12, {"南京市": ["玄武区", "秦淮区", "鼓楼区", "建邺区"], "苏州市": ["姑苏区", "吴中区", "相城区"],
                  "无锡市": ["梁溪区", "滨湖区", "新吴区"]}),
    ("上海市", 10, {"上海市": ["浦东新区", "徐汇区", "静安区", "黄浦区", "闵行区"]}),
    ("北京市", 9, {"北京市": ["朝阳区", "海淀区", "东城区", "西城区", "丰台区"]}),
    ("四川省", 7, {"成都市": ["锦江区", "武侯区", "青羊区", "成华区"], "绵阳市": ["涪城区", "游仙区"]}),
    ("山东省", 7, {"济南市": ["历下区", "市中区", "槐荫区"], "青岛市": ["市南区", "市北区", "崂山区", "黄岛区"],
                 "烟台市": ["芝罘区", "莱山区"]}),
    ("福建省", 6, {"福州市": ["鼓楼区", "台江区", "仓山区"], "厦门市": ["思明区", "湖里区", "集美区"],
                 "泉州市": ["鲤城区", "丰泽区"]}),
    ("湖北省", 6, {"武汉市": ["江汉区", "武昌区", "洪山区", "汉阳区"], "宜昌市": ["西陵区", "伍家岗区"]}),
    ("湖南省", 5, {"长沙市": ["岳麓区", "芙蓉区", "天心区", "开福区"], "株洲市": ["天元区", "芦淞区"]}),
    ("河南省", 4, {"郑州市": ["金水区", "二七区", "中原区"], "洛阳市": ["西工区", "老城区", "洛龙区"]}),
    ("陕西省", 4, {"西安市": ["雁塔区", "碑林区", "未央区", "新城区"], "咸阳市": ["秦都区", "渭城区"]}),
]
STREETS = ["人民路", "解放路", "中山路", "建设路", "和平路", "新华路", "文化路", "胜利路", "青年路", "朝阳路",
           "长江路", "黄河路", "东风路", "学府路", "滨江大道", "科技园路", "工业大道", "花园路", "府前街", "环城北路"]
COMMUNITIES = ["阳光花园", "锦绣家园", "翠苑小区", "碧水湾", "世纪花园", "金色家园", "紫荆苑", "幸福里",
               "书香名邸", "滨江一号", "城市之光", "万家丽苑"]
MOBILE_PREFIXES = ["130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "155",
                   "156", "157", "158", "159", "166", "176", "177", "180", "181", "182", "183", "185", "186",
                   "187", "188", "189", "191", "198", "199"]
MAIL_DOMAINS = ["163.com", "126.com", "sina.com", "foxmail.com", "outlook.com", "139.com"]

# Top category → sub-category → (product, price, season)
CATALOGUE: dict[str, dict[str, list[tuple[str, int, str]]]] = {
    "服装": {
        "女装": [("真丝连衣裙", 599, ""), ("羊绒大衣", 1299, "winter"), ("针织开衫", 259, ""),
               ("雪纺衬衫", 199, "summer"), ("高腰阔腿裤", 219, ""), ("女款轻薄羽绒服", 899, "winter")],
        "男装": [("商务衬衫", 299, ""), ("男款连帽羽绒服", 999, "winter"), ("休闲夹克", 459, ""),
               ("纯棉T恤", 89, "summer"), ("直筒牛仔裤", 269, ""), ("Polo衫", 159, "summer")],
        "鞋包配饰": [("真丝围巾", 199, ""), ("头层牛皮皮带", 159, ""), ("帆布托特包", 129, ""),
                 ("百搭小白鞋", 329, ""), ("羊毛手套", 99, "winter")],
    },
    "美妆护肤": {
        "护肤": [("玻尿酸精华液 30ml", 329, ""), ("保湿面霜 50g", 268, ""), ("氨基酸洁面乳", 89, ""),
               ("补水面膜（10片）", 99, ""), ("清爽防晒霜 SPF50", 139, "summer"), ("修护眼霜", 299, "")],
        "彩妆": [("丝绒哑光口红", 179, ""), ("轻薄气垫粉底", 239, ""), ("十二色眼影盘", 199, ""), ("防水眉笔", 59, "")],
        "香氛": [("淡香水 50ml", 599, ""), ("香薰蜡烛", 168, "winter")],
    },
    "食品": {
        "茶叶": [("明前西湖龙井 250g", 368, ""), ("安溪铁观音 500g", 198, ""), ("云南普洱茶饼 357g", 268, ""),
               ("福鼎白茶 200g", 238, "")],
        "零食坚果": [("每日坚果（30袋）", 128, ""), ("内蒙古风干牛肉干", 68, ""), ("手工麻薯", 39, ""),
                 ("低糖桃酥", 29, "")],
        "酒水饮品": [("绍兴花雕酒 五年陈", 88, ""), ("冷萃咖啡液（12支）", 79, "summer"), ("宁夏枸杞原浆", 158, "")],
    },
    "礼盒": {
        "节日礼盒": [("中秋月饼礼盒", 258, "mid_autumn"), ("新春年货礼盒", 398, "new_year"),
                 ("端午粽子礼盒", 168, "dragon_boat")],
        "企业定制": [("企业定制茶礼", 588, ""), ("员工福利零食礼包", 158, ""), ("定制丝巾礼盒", 299, "")],
    },
}
# Festival days that move with the lunar calendar.
SPRING_FESTIVAL = {2022: (2, 1), 2023: (1, 22), 2024: (2, 10), 2025: (1, 29), 2026: (2, 17), 2027: (2, 6),
                   2028: (1, 26), 2029: (2, 13), 2030: (2, 3)}
MID_AUTUMN = {2022: (9, 10), 2023: (9, 29), 2024: (9, 17), 2025: (10, 6), 2026: (9, 25), 2027: (9, 15),
              2028: (10, 3), 2029: (9, 22), 2030: (9, 12)}
DRAGON_BOAT = {2022: (6, 3), 2023: (6, 22), 2024: (6, 10), 2025: (5, 31), 2026: (6, 19), 2027: (6, 9),
               2028: (5, 28), 2029: (6, 16), 2030: (6, 5)}

TAG_NAMES = ["VIP", "老客户", "会员", "团购", "新客", "价格敏感", "高潜力", "企业客户", "投诉过"]

# Buyer types: (name, weight, min orders, max orders)
PERSON_TYPES = [("potential", 12, 0, 0), ("one_off", 33, 1, 1), ("light", 30, 2, 4), ("regular", 17, 5, 12),
                ("loyal", 6, 13, 30), ("whale", 2, 30, 70)]
COMPANY_TYPES = [("potential", 15, 0, 0), ("one_off", 25, 1, 1), ("light", 35, 2, 5), ("regular", 25, 6, 16)]

PERSON_COMMS = [
    "新品到店通知：{product}，客户表示周末来店看看", "回访上次购买的{product}，询问使用感受",
    "生日祝福，并赠送50元优惠券",
    "双十一活动预告，客户询问{category}有没有折扣", "客户咨询{product}是否有货", "提醒会员积分月底到期",
    "发送专属优惠，邀请客户回店看看", "客户反馈{product}尺码/色号问题，已协助更换", "邀请参加会员日活动",
]
COMPANY_COMMS = [
    "与{contact}沟通中秋团购需求，预计{qty}份", "发送新春年货礼盒报价单给{contact}", "上门拜访，介绍企业定制礼品方案",
    "确认发票抬头和对公转账信息", "客户反馈上批礼盒包装有破损，已安排补发", "{contact}询问员工福利礼包的起订量",
]
OUTCOMES = ["有购买意向", "已下单", "暂无需求", "未接通", "需再次跟进", "已发报价", "客户满意", "考虑中"]
FOLLOW_UP_TITLES = ["回访：{product}使用感受", "{product}到货后通知客户", "发送报价单并确认数量",
                    "生日前送祝福和优惠券", "邀请参加会员日活动", "确认对公转账是否到账", "询问是否需要补货"]
GOOD_COMMENTS = ["非常满意，{product}质量很好，下次还来", "店员很热情，服务周到", "包装精美，送人很有面子",
                 "性价比高，已推荐给朋友", "发货很快，第二天就到了"]
MIXED_COMMENTS = ["整体还行，就是排队时间有点长", "东西不错，价格稍贵", "款式好看，但是颜色和图片有点差别", ""]
BAD_COMMENTS = ["发货太慢了，等了一周", "尺码不合适，退换很麻烦", "{product}和描述不符，有点失望", "店员态度一般"]


class DemoDataPresent(Exception):
    """The store already holds customers; demo data would mix with them."""


@dataclass
class DemoResult:
    customers: int = 0
    orders: int = 0
    order_lines: int = 0
    communications: int = 0
    follow_ups: int = 0
    feedback: int = 0
    users: list[str] = field(default_factory=list)
    password: str = DEMO_PASSWORD
    seconds: float = 0.0
    classify_error: str = ""


def demo_present() -> bool:
    return Customer.objects.exists()


def reset_business_data() -> None:
    """Delete every customer and what hangs on them, products, categories and tags (users stay)."""
    with transaction.atomic():
        FeedbackRating.objects.all().delete()
        Feedback.objects.all().delete()
        FollowUp.objects.all().delete()
        Communication.objects.all().delete()
        Consent.objects.all().delete()
        Preference.objects.all().delete()
        # Raw deletes: per-row delete signals (incremental metrics) would take minutes for nothing,
        # since every customer goes too and the metrics are rebuilt after loading.
        OrderLine.objects.all()._raw_delete(OrderLine.objects.db)
        Order.objects.all()._raw_delete(Order.objects.db)
        MergeRecord.objects.all().delete()
        Customer.objects.all().delete()  # anything else on customers (metrics, lists) cascades
        Product.objects.all().delete()
        Category.objects.all().delete()
        Tag.objects.all().delete()
        Counter.objects.filter(name="customer_code").delete()


# ---------------------------------------------------------------------------------------------
# Calendar


def _festival(table: dict[int, tuple[int, int]], year: int) -> datetime.date:
    month, day = table.get(year, table[max(table)])
    return datetime.date(year, month, day)


def season_weight(day: datetime.date) -> float:
    """How busy the shop is on `day`, relative to an ordinary weekday."""
    w = 1.25 if day.weekday() >= 5 else 1.0
    md = (day.month, day.day)
    if (11, 1) <= md <= (11, 11):  # 双十一 pre-sales, then the day itself
        w *= 5.0 if md == (11, 11) else 2.2
    elif (6, 1) <= md <= (6, 18):  # 618
        w *= 3.5 if md == (6, 18) else 1.7
    elif md == (12, 12):
        w *= 2.0
    elif md in ((2, 14), (5, 20), (3, 8)):
        w *= 1.6
    to_spring = (day - _festival(SPRING_FESTIVAL, day.year)).days
    if -24 <= to_spring < -2:  # 年货 shopping
        w *= 1.9
    elif -2 <= to_spring <= 6:  # shops close over the holiday
        w *= 0.35
    return w


def product_season_weight(season: str, day: datetime.date) -> float:
    if not season:
        return 1.0
    if season == "winter":
        return 3.0 if day.month in (11, 12, 1, 2) else 0.4
    if season == "summer":
        return 3.0 if day.month in (5, 6, 7, 8) else 0.4
    table = {"mid_autumn": MID_AUTUMN, "new_year": SPRING_FESTIVAL, "dragon_boat": DRAGON_BOAT}[season]
    for year in (day.year, day.year + 1):
        days_before = (_festival(table, year) - day).days
        if 0 <= days_before <= (35 if season == "new_year" else 30):
            return 12.0
    return 0.05


class Calendar:
    """The days of the demo history with cumulative seasonal weights, to draw order days quickly."""

    def __init__(self, today: datetime.date):
        self.today = today
        self.start = today - datetime.timedelta(days=HISTORY_DAYS)
        self.days = [self.start + datetime.timedelta(days=i) for i in range(HISTORY_DAYS + 1)]
        self.cum = list(itertools.accumulate(season_weight(d) for d in self.days))

    def index(self, day: datetime.date) -> int:
        return (day - self.start).days

    def draw(self, rng: random.Random, first: int, last: int) -> datetime.date:
        """A day between indexes first..last (inclusive), busier days more likely."""
        low = self.cum[first - 1] if first > 0 else 0.0
        x = low + rng.random() * (self.cum[last] - low)
        return self.days[min(bisect.bisect_left(self.cum, x, first, last + 1), last)]


# ---------------------------------------------------------------------------------------------
# Reference data


def ensure_demo_users() -> dict[str, User]:
    """The demo staff, one per role, all with DEMO_PASSWORD. Existing users are left alone."""
    users = {}
    hashed = None
    for username, role, last, first in DEMO_USERS:
        user = User.objects.filter(username=username).first()
        if user is None:
            hashed = hashed or make_password(DEMO_PASSWORD)
            user = User(username=username, role=role, last_name=last, first_name=first, password=hashed)
            user.save()
        users[username] = user
    return users


def ensure_catalogue() -> tuple[dict[str, list[Product]], dict[int, Category]]:
    """Categories (two levels) and products. Returns products per top category and categories by id."""
    by_top: dict[str, list[Product]] = {}
    categories: dict[int, Category] = {}
    for top_name, subs in CATALOGUE.items():
        top, _ = Category.objects.get_or_create(name=top_name)
        categories[top.id] = top
        by_top[top_name] = []
        for sub_name, items in subs.items():
            sub, _ = Category.objects.get_or_create(name=sub_name, defaults={"parent": top})
            categories[sub.id] = sub
            for name, price, season in items:
                product, _ = Product.objects.get_or_create(
                    name=name, defaults={"category": sub, "price": Decimal(price)})
                product.season = season  # demo-only attribute
                if product.category_id == sub.id:
                    product.category = sub  # keep it cached: no query per use
                by_top[top_name].append(product)
    return by_top, categories


# ---------------------------------------------------------------------------------------------
# One customer's plan


@dataclass
class OrderPlan:
    when: datetime.datetime
    lines: list[tuple[Product, Decimal, Decimal]]  # product, quantity, unit price
    payment: str
    channel: str
    refunded: bool

    @property
    def amount(self) -> Decimal:
        return sum((q * p for _, q, p in self.lines), Decimal("0")).quantize(Decimal("0.01"))


@dataclass
class CustomerPlan:
    fields: dict
    affinity: str
    orders: list[OrderPlan]
    tags: list[str]


class Generator:
    """Holds the random sources and reference data while planning customers one by one."""

    def __init__(self, seed: int, users: dict[str, User], products: dict[str, list[Product]]):
        self.rng = random.Random(seed)
        self.fake = Faker("zh_CN")
        self.fake.seed_instance(seed)
        self.users = users
        self.products = products
        self.tz = timezone.get_current_timezone()
        self.today = timezone.localdate()
        self.now = timezone.now()
        self.calendar = Calendar(self.today)
        self.mobiles: set[str] = set()
        self.emails: set[str] = set()
        self.wechats: set[str] = set()
        self.companies: set[str] = set()
        self.people: list[dict] = []  # earlier person profiles, to make a few duplicates from

    # -- small helpers --------------------------------------------------------------------------

    def pick(self, pairs):
        """pairs: [(value, weight), …]."""
        values, weights = zip(*pairs, strict=True)
        return self.rng.choices(values, weights=weights)[0]

    def moment(self, day: datetime.date, evening: bool = True) -> datetime.datetime:
        hour = self.rng.choices(range(9, 23), weights=[2, 4, 5, 5, 4, 4, 5, 6, 7, 8, 10, 10, 7, 3])[0]
        if not evening:
            hour = self.rng.randint(9, 17)
        when = datetime.datetime(day.year, day.month, day.day, hour, self.rng.randint(0, 59), self.rng.randint(0, 59))
        when = timezone.make_aware(when, self.tz)
        return min(when, self.now - datetime.timedelta(minutes=self.rng.randint(5, 120)))

    def mobile(self) -> str:
        while True:
            raw = self.rng.choice(MOBILE_PREFIXES) + "".join(self.rng.choices(string.digits, k=8))
            try:
                number = normalize_mobile(raw)
            except InvalidMobile:
                continue
            if number not in self.mobiles:
                self.mobiles.add(number)
                return number

    def email(self, company_domain: str = "") -> str:
        while True:
            if company_domain:
                value = f"{self.fake.user_name()}@{company_domain}"
            elif self.rng.random() < 0.4:
                value = f"{self.rng.randint(10000, 2999999999)}@qq.com"
            else:
                value = f"{self.fake.user_name()}{self.rng.randint(1, 999)}@{self.rng.choice(MAIL_DOMAINS)}"
            value = value.lower()
            if value not in self.emails:
                self.emails.add(value)
                return value

    def wechat(self) -> str:
        while True:
            if self.rng.random() < 0.3:
                value = "wxid_" + "".join(self.rng.choices(string.ascii_lowercase + string.digits, k=10))
            else:
                value = f"{self.fake.user_name()}{self.rng.choice(['', '_'])}{self.rng.randint(1, 9999)}"
            if value not in self.wechats:
                self.wechats.add(value)
                return value

    def company_name(self, city: str) -> str:
        """'杭州' + Faker's company name, unique in the demo (Faker repeats itself)."""
        while True:
            name = f"{city.removesuffix('市')}{self.fake.company()}".replace("信息信息", "信息")
            if name not in self.companies:
                self.companies.add(name)
                return name

    def place(self) -> tuple[str, str, str]:
        province, _, cities = self.rng.choices(PLACES, weights=[p[1] for p in PLACES])[0]
        city = self.rng.choice(list(cities))
        return province, city, self.rng.choice(cities[city])

    def street_address(self, company: bool) -> str:
        street = f"{self.rng.choice(STREETS)}{self.rng.randint(1, 899)}号"
        if company:
            return f"{street}{self.rng.choice(['', '商务中心', '创业大厦', '科技园'])}{self.rng.randint(2, 30)}层"
        return (f"{street}{self.rng.choice(COMMUNITIES)}{self.rng.randint(1, 28)}栋"
                f"{self.rng.randint(1, 32)}{self.rng.randint(1, 6):02d}室")

    # -- a customer ----------------------------------------------------------------------------

    def plan_customer(self) -> CustomerPlan:
        rng = self.rng
        reg_days_ago = int(HISTORY_DAYS * rng.random() ** 0.9)
        registered_day = self.today - datetime.timedelta(days=reg_days_ago)
        if self.people and rng.random() < 1 / 250:
            return self.plan_duplicate(registered_day)
        company = rng.random() < 0.2
        province, city, district = self.place()
        f: dict = {"province": province, "city": city, "district": district,
                   "registered_at": self.moment(registered_day, evening=False)}
        if company:
            name = self.company_name(city)
            f.update(kind=Kind.COMPANY, name=name, company=name,
                     industry=self.pick([(i, 3 if i in ("零售", "餐饮", "制造", "互联网", "教育") else 1)
                                         for i in INDUSTRY_SUGGESTIONS]),
                     company_size=self.pick([(CompanySize.MICRO, 30), (CompanySize.SMALL, 35),
                                             (CompanySize.MEDIUM, 20), (CompanySize.LARGE, 10),
                                             (CompanySize.ENTERPRISE, 5)]),
                     source=self.pick([("转介绍", 30), ("展会", 20), ("电话营销", 20), ("微信", 15), ("门店", 15)]),
                     mobile=self.mobile(), address=self.street_address(company=True))
            contact = self.fake.name()
            f["notes"] = f"联系人：{contact}（{rng.choice(['行政', '采购', '人事', '总经理办公室'])}）"
            if rng.random() < 0.7:
                f["email"] = self.email(company_domain=self.fake.domain_name())
            if rng.random() < 0.6:
                f["wechat"] = self.wechat()
            affinity = self.pick([("礼盒", 60), ("食品", 30), ("服装", 10)])
            btype = self.pick([((t, lo, hi), w) for t, w, lo, hi in COMPANY_TYPES])
        else:
            female = rng.random() < 0.62
            name = self.fake.name_female() if female else self.fake.name_male()
            f.update(kind=Kind.PERSON, name=name, gender=Gender.FEMALE if female else Gender.MALE,
                     mobile=self.mobile(),
                     source=self.pick([("门店", 35), ("微信", 20), ("线上商城", 12), ("淘宝", 8), ("京东", 5),
                                       ("抖音", 7), ("小红书", 6), ("转介绍", 7)]))
            if rng.random() < 0.75:
                age = int(rng.triangular(18, 68, 33))
                f["birthday"] = datetime.date(self.today.year - age, rng.randint(1, 12), rng.randint(1, 28))
            if rng.random() < 0.3:
                f["email"] = self.email()
            if rng.random() < 0.55:
                f["wechat"] = self.wechat()
            if rng.random() < 0.7:
                f["address"] = self.street_address(company=False)
            affinity = self.pick([("服装", 45), ("美妆护肤", 40 if female else 10), ("食品", 15 if female else 45)])
            btype = self.pick([((t, lo, hi), w) for t, w, lo, hi in PERSON_TYPES])
            self.people.append({k: f[k] for k in ("name", "gender", "mobile", "province", "city", "district")})
        orders = self.plan_orders(f, affinity, btype, registered_day)
        self.assign_owner(f, company)
        return CustomerPlan(f, affinity, orders, self.plan_tags(f, orders, btype[0], reg_days_ago))

    def plan_duplicate(self, registered_day: datetime.date) -> CustomerPlan:
        """The same person entered again later (another channel): same name, mobile and city."""
        person = self.rng.choice(self.people)
        f = {**person, "kind": Kind.PERSON, "source": self.rng.choice(["线上商城", "抖音", "小红书"]),
             "registered_at": self.moment(registered_day, evening=False)}
        affinity = self.rng.choice(list(CATALOGUE)[:3])
        orders = self.plan_orders(f, affinity, ("one_off", 1, 1), registered_day)
        return CustomerPlan(f, affinity, orders, [])

    def assign_owner(self, f: dict, company: bool) -> None:
        u = self.users
        if company:
            owner = self.pick([(u["sales1"], 42), (u["sales2"], 38), (u["manager"], 10), (None, 10)])
        else:
            owner = self.pick([(u["sales1"], 28), (u["sales2"], 27), (u["manager"], 10), (None, 35)])
        f["owner"] = owner

    def plan_orders(self, f: dict, affinity: str, btype: tuple, registered_day: datetime.date) -> list[OrderPlan]:
        rng = self.rng
        name, low, high = btype
        count = rng.randint(low, high) if high > 1 else high
        if not count:
            return []
        cal = self.calendar
        first = cal.index(registered_day)
        last = cal.index(self.today)
        days_known = last - first
        if days_known > 420 and name != "one_off" and rng.random() < 0.3:
            last = last - rng.randint(366, days_known - 30)  # churned: stopped buying over a year ago
        elif name in ("light", "regular") and rng.random() < 0.2 and days_known > 200:
            last = last - rng.randint(120, min(330, days_known - 30))  # sleeping
        gap = 20 if name in ("one_off", "light") or f["kind"] == Kind.COMPANY else 4
        count = max(1, min(count, (last - first) // gap + 1))
        # The first purchase comes with registration; the rest spread over the active window.
        days = [cal.days[min(first + rng.randint(0, 3), last)]]
        days += [cal.draw(rng, first, last) for _ in range(count - 1)]
        level = rng.lognormvariate(0, 0.55) * (1.6 if name == "whale" else 1.0)
        orders = [self.plan_order(f, affinity, day, level) for day in sorted(days)]
        for order in orders:  # nobody buys before they are registered
            if order.when <= f["registered_at"]:
                order.when = min(f["registered_at"] + datetime.timedelta(minutes=rng.randint(1, 90)), self.now)
        return orders

    def plan_order(self, f: dict, affinity: str, day: datetime.date, level: float) -> OrderPlan:
        rng = self.rng
        company = f["kind"] == Kind.COMPANY
        n_lines = 1 + min(4, int(rng.expovariate(1 / (0.5 * level))))
        md = (day.month, day.day)
        discount = Decimal("1")
        if (11, 1) <= md <= (11, 11) or (6, 1) <= md <= (6, 18) or md == (12, 12):
            discount = Decimal(rng.choice(["0.8", "0.85", "0.9"]))
        elif rng.random() < 0.15:
            discount = Decimal("0.95")  # member price
        lines = []
        chosen: set[str] = set()
        for _ in range(n_lines):
            top = affinity if rng.random() < 0.65 else rng.choice(list(CATALOGUE))
            pool = self.products[top]
            product = rng.choices(pool, weights=[product_season_weight(p.season, day) for p in pool])[0]
            if product.name in chosen:
                continue
            chosen.add(product.name)
            if company:
                qty = rng.choice([5, 10, 10, 20, 20, 30, 50, 100]) if top == "礼盒" else rng.randint(2, 10)
            else:
                qty = rng.choices([1, 2, 3], weights=[80, 15, 5])[0]
            unit = (product.price * discount).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
            lines.append((product, Decimal(qty), unit))
        if company:
            payment = self.pick([(PaymentMethod.TRANSFER, 70), (PaymentMethod.WECHAT_PAY, 12),
                                 (PaymentMethod.CARD, 12), (PaymentMethod.ALIPAY, 6)])
            channel = self.pick([(SalesChannel.PHONE, 35), (SalesChannel.WECHAT, 35), (SalesChannel.STORE, 30)])
        else:
            channel = self.pick([(SalesChannel.STORE, 40), (SalesChannel.WECHAT, 22), (SalesChannel.ONLINE, 18),
                                 (SalesChannel.PLATFORM, 15), (SalesChannel.PHONE, 5)])
            payment = self.pick([(PaymentMethod.WECHAT_PAY, 45), (PaymentMethod.ALIPAY, 30), (PaymentMethod.CARD, 12),
                                 (PaymentMethod.CASH, 9), (PaymentMethod.OTHER, 4)])
            if payment == PaymentMethod.CASH and channel != SalesChannel.STORE:
                payment = PaymentMethod.ALIPAY
        return OrderPlan(self.moment(day), lines, payment, channel, refunded=rng.random() < 0.03)

    def plan_tags(self, f: dict, orders: list[OrderPlan], btype: str, reg_days_ago: int) -> list[str]:
        rng = self.rng
        spend = sum((o.amount for o in orders if not o.refunded), Decimal("0"))
        tags = []
        if f["kind"] == Kind.COMPANY:
            tags.append("企业客户")
            if orders:
                tags.append("团购")
        if spend >= 15000 and f["kind"] == Kind.PERSON:
            tags.append("VIP")
        if reg_days_ago > 730 and len(orders) >= 3:
            tags.append("老客户")
        if orders and rng.random() < 0.35:
            tags.append("会员")
        if reg_days_ago < 60:
            tags.append("新客")
        if rng.random() < 0.08:
            tags.append("价格敏感")
        if btype in ("potential", "one_off") and rng.random() < 0.1:
            tags.append("高潜力")
        f["grade"] = self.grade(f, spend)
        return tags

    def grade(self, f: dict, spend: Decimal) -> str:
        if self.rng.random() < 0.15:
            return ""  # not graded yet
        thresholds = (50000, 15000, 3000) if f["kind"] == Kind.COMPANY else (8000, 3000, 800)
        for grade, limit in zip((Grade.A, Grade.B, Grade.C), thresholds, strict=True):
            if spend >= limit:
                return grade
        return Grade.D

    # -- engagement ----------------------------------------------------------------------------

    def engagement_for(self, customer: Customer, plan: CustomerPlan, categories: dict[str, list[Category]],
                       dimensions: list[FeedbackDimension], out: "Batch") -> None:
        rng = self.rng
        u = self.users
        company = customer.kind == Kind.COMPANY
        registered = timezone.localtime(customer.registered_at)
        if rng.random() < 0.55:
            pref = Preference(customer=customer, preferred_channel=self.pick(
                [(MarketingChannel.WECHAT, 50), (MarketingChannel.SMS, 25), (MarketingChannel.PHONE, 15),
                 (MarketingChannel.EMAIL, 10 if customer.email else 0)]),
                notes=rng.choice(["", "", "喜欢新品到店通知", "只在周末联系", "关注促销活动", "不喜欢电话打扰"]))
            subs = categories[plan.affinity]
            out.preferences.append((pref, rng.sample(subs, k=min(len(subs), rng.randint(1, 2)))))
        if rng.random() < 0.7:
            when = min(registered + datetime.timedelta(days=rng.randint(0, 30)), self.now)
            source = rng.choice(["门店登记", "线上注册", "公众号关注", "电话确认"])
            for channel, p in ((MarketingChannel.WECHAT, 0.85), (MarketingChannel.SMS, 0.6),
                               (MarketingChannel.EMAIL, 0.5), (MarketingChannel.PHONE, 0.3)):
                if channel == MarketingChannel.EMAIL and not customer.email:
                    continue
                out.consents.append(Consent(customer=customer, channel=channel, granted=rng.random() < p,
                                            changed_at=when, source=source))
        owner = customer.owner
        chance = 0.9 if company and owner else 0.5 if owner else 0.1
        if rng.random() < chance:
            n = rng.randint(2, 10) if company else rng.randint(1, 5)
            author = owner or u["service"]
            span = max(1, (self.now - registered).days)
            for k in range(n):
                days_ago = int(span * rng.random() ** 2)  # recent contact more likely
                when = self.now - datetime.timedelta(days=days_ago, minutes=rng.randint(10, 600))
                product = rng.choice(self.products[plan.affinity])
                template = rng.choice(COMPANY_COMMS if company else PERSON_COMMS)
                content = template.format(product=product.name, category=product.category.name,
                                          contact=customer.notes.removeprefix("联系人：").split("（")[0],
                                          qty=rng.choice([30, 50, 100, 200]))
                method = self.pick([(CommunicationMethod.PHONE, 35), (CommunicationMethod.VISIT, 25),
                                    (CommunicationMethod.WECHAT, 25), (CommunicationMethod.EMAIL, 15)] if company else
                                   [(CommunicationMethod.WECHAT, 45), (CommunicationMethod.PHONE, 30),
                                    (CommunicationMethod.VISIT, 10), (CommunicationMethod.SMS, 8),
                                    (CommunicationMethod.EMAIL, 7)])
                comm = Communication(customer=customer, occurred_at=when, method=method, content=content,
                                     outcome=rng.choice(OUTCOMES), author=author)
                follow = None
                if k == 0 and owner and rng.random() < 0.6:  # the latest contact often sets a next date
                    due = self.follow_up_due()
                    comm.next_follow_up = due
                    follow = FollowUp(customer=customer, title=f"跟进：{content[:40]}", due=due,
                                      assignee=author, created_by=author)
                elif rng.random() < 0.25:  # an older task, done
                    due = (when + datetime.timedelta(days=rng.randint(1, 14))).date()
                    done_at = min(when + datetime.timedelta(days=rng.randint(1, 14)), self.now)
                    title = rng.choice(FOLLOW_UP_TITLES).format(product=product.name)
                    follow = FollowUp(customer=customer, title=title,
                                      due=min(due, self.today), assignee=author, created_by=author,
                                      done=True, done_at=done_at)
                out.communications.append((comm, follow))
        if plan.orders and dimensions and rng.random() < 0.22:
            mood = rng.random()
            for order in rng.sample(plan.orders, k=min(len(plan.orders), rng.randint(1, 3))):
                when = min(order.when + datetime.timedelta(days=rng.randint(0, 5), hours=rng.randint(1, 8)),
                           self.now)
                if mood < 0.1:
                    scores = [rng.randint(1, 3) for _ in dimensions]
                    comments = BAD_COMMENTS
                elif mood < 0.35:
                    scores = [rng.randint(3, 4) for _ in dimensions]
                    comments = MIXED_COMMENTS
                else:
                    scores = [rng.choices([3, 4, 5], weights=[1, 4, 8])[0] for _ in dimensions]
                    comments = GOOD_COMMENTS
                rated = [(d, s) for d, s in zip(dimensions, scores, strict=True) if rng.random() < 0.75]
                rated = rated or [(dimensions[0], scores[0])]
                comment = rng.choice(comments).format(product=order.lines[0][0].name)
                out.feedback.append((Feedback(customer=customer, received_at=when, comment=comment,
                                              recorded_by=u["service"]), rated))
            if mood < 0.1:
                out.tags.append((customer, "投诉过"))

    def follow_up_due(self) -> datetime.date:
        r = self.rng.random()
        if r < 0.3:
            return self.today - datetime.timedelta(days=self.rng.randint(1, 20))  # overdue
        if r < 0.45:
            return self.today
        return self.today + datetime.timedelta(days=self.rng.randint(1, 30))


@dataclass
class Batch:
    """Rows planned for one chunk of customers, written together."""

    preferences: list = field(default_factory=list)
    consents: list = field(default_factory=list)
    communications: list = field(default_factory=list)
    feedback: list = field(default_factory=list)
    tags: list = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# Writing


def write_chunk(gen: Generator, plans: list[CustomerPlan], tags: dict[str, Tag],
                categories: dict[str, list[Category]], dimensions: list[FeedbackDimension],
                result: DemoResult) -> None:
    customers = []
    for code, plan in zip(next_customer_codes(len(plans)), plans, strict=True):
        customer = Customer(code=code, **plan.fields)
        customer.refresh_search_hashes()  # bulk_create does not call save()
        customer.refresh_age_band()
        customers.append(customer)
    Customer.objects.bulk_create(customers, batch_size=500)
    result.customers += len(customers)

    batch = Batch()
    orders, lines = [], []
    for customer, plan in zip(customers, plans, strict=True):
        batch.tags.extend((customer, name) for name in plan.tags)
        for k, o in enumerate(plan.orders, start=1):
            order = Order(customer=customer, number=f"DD{o.when:%Y%m%d}{customer.code[2:]}{k:02d}",
                          ordered_at=o.when, amount=o.amount, payment_method=o.payment, sales_channel=o.channel,
                          status=OrderStatus.REFUNDED if o.refunded else OrderStatus.COMPLETED,
                          note="客户退货，已全额退款" if o.refunded else "", created_by=customer.owner)
            orders.append(order)
            lines.extend(OrderLine(order=order, product=p, product_name=p.name, category_id=p.category_id,
                                   quantity=q, unit_price=price) for p, q, price in o.lines)
        gen.engagement_for(customer, plan, categories, dimensions, batch)
    Order.objects.bulk_create(orders, batch_size=1000)
    OrderLine.objects.bulk_create(lines, batch_size=1000)
    result.orders += len(orders)
    result.order_lines += len(lines)

    Through = Customer.tags.through
    Through.objects.bulk_create([Through(customer_id=c.id, tag_id=tags[name].id) for c, name in batch.tags],
                                batch_size=1000, ignore_conflicts=True)
    Preference.objects.bulk_create([p for p, _ in batch.preferences], batch_size=1000)
    PrefCats = Preference.categories.through
    PrefCats.objects.bulk_create([PrefCats(preference_id=p.id, category_id=c.id)
                                  for p, cats in batch.preferences for c in cats], batch_size=1000)
    Consent.objects.bulk_create(batch.consents, batch_size=1000)
    Communication.objects.bulk_create([c for c, _ in batch.communications], batch_size=1000)
    follow_ups = []
    for comm, follow in batch.communications:
        if follow is not None:
            follow.communication = comm
            follow_ups.append(follow)
    FollowUp.objects.bulk_create(follow_ups, batch_size=1000)
    Feedback.objects.bulk_create([f for f, _ in batch.feedback], batch_size=1000)
    FeedbackRating.objects.bulk_create([FeedbackRating(feedback=f, dimension=d, score=s)
                                        for f, rated in batch.feedback for d, s in rated], batch_size=1000)
    result.communications += len(batch.communications)
    result.follow_ups += len(follow_ups)
    result.feedback += len(batch.feedback)


def ensure_due_follow_ups(gen: Generator) -> int:
    """Everyone who follows up has something due today and something overdue, so the page shows both."""
    created = []
    for username in ("sales1", "sales2", "manager", "service"):
        user = gen.users[username]
        owned = list(Customer.objects.filter(owner=user).order_by("id").values_list("id", flat=True)[:50])
        if not owned:
            owned = list(Customer.objects.order_by("id").values_list("id", flat=True)[:50])
        if not owned:
            continue
        open_tasks = FollowUp.objects.filter(assignee=user, done=False)
        wanted = [
            (gen.today, 2 - open_tasks.filter(due=gen.today).count()),
            (gen.today - datetime.timedelta(days=3), 2 - open_tasks.filter(due__lt=gen.today).count()),
        ]
        for due, missing in wanted:
            for _ in range(max(0, missing)):
                title = gen.rng.choice(FOLLOW_UP_TITLES).format(product=gen.rng.choice(gen.products["服装"]).name)
                created.append(FollowUp(customer_id=gen.rng.choice(owned), title=title, due=due,
                                        assignee=user, created_by=user))
    FollowUp.objects.bulk_create(created)
    return len(created)


def load_demo(customers: int = 2000, seed: int = 42, reset: bool = False, progress: bool = False,
              classify: bool = True) -> DemoResult:
    """Fill the store with demo data. Refuses (DemoDataPresent) if customers exist, unless reset.

    bulk_create bypasses the signals that keep customer metrics current, so the metrics are rebuilt
    and every customer classified at the end (classify=False skips that).
    """
    started = time.perf_counter()
    if demo_present():
        if not reset:
            raise DemoDataPresent("客户库中已有客户数据")
        reset_business_data()
    result = DemoResult()
    with transaction.atomic():
        users = ensure_demo_users()
        result.users = list(users)
        ensure_default_dimensions()
        dimensions = list(FeedbackDimension.objects.filter(active=True).order_by("position", "id"))
        products, categories = ensure_catalogue()
        subs_by_top = {top: [c for c in categories.values() if c.parent_id and c.parent.name == top]
                       for top in CATALOGUE}
        tags = {name: Tag.objects.get_or_create(name=name)[0] for name in TAG_NAMES}
        gen = Generator(seed, users, products)
        with tqdm(total=customers, desc="生成演示客户", unit="位", disable=not progress) as bar:
            for start in range(0, customers, CHUNK):
                plans = [gen.plan_customer() for _ in range(min(CHUNK, customers - start))]
                write_chunk(gen, plans, tags, subs_by_top, dimensions, result)
                bar.update(len(plans))
        result.follow_ups += ensure_due_follow_ups(gen)
    if classify:
        from kehu.segments.pipeline import refresh

        try:
            refresh(full=True)
        except Exception as exc:  # the data is in; classification can be rerun with `kehu segment --full`
            result.classify_error = f"{type(exc).__name__}: {exc}"
    result.seconds = time.perf_counter() - started
    return result
