"""Request and response shapes. Field names follow the models and the glossary; descriptions are Chinese."""

import datetime
from decimal import Decimal
from typing import Any

from ninja import Field, P, PathEx, Schema
from pydantic import ConfigDict

from kehu.customers.columns import COLUMNS, DEFAULT_COLUMNS
from kehu.customers.filters import SORT_FIELDS, SORTS
from kehu.customers.models import CompanySize, Gender, Grade, Kind
from kehu.engagement.models import CommunicationMethod
from kehu.sales.models import OrderStatus, PaymentMethod, SalesChannel


def options(choices) -> str:
    return "，".join(f"{value or '空'}={label}" for value, label in choices)


CustomerCode = PathEx[str, P(description="客户编号，如 KH000012")]


class StrictIn(Schema):
    """Input: an unknown (misspelt) field is an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


class Error(Schema):
    detail: str = Field(description="错误说明")


class CallerLookupIn(StrictIn):
    mobile: str = Field(max_length=40, description="来电的完整手机号，如 13812345678")


class FieldErrors(Schema):
    errors: dict[str, list[str]] = Field(description="按字段列出的错误信息，如 {\"mobile\": [\"…不是有效的手机号码\"]}")
    duplicate_of: str | None = Field(None, description="与之重复的已有客户的客户编号（仅在重复时出现）")


class Conflict(Schema):
    detail: str = Field(description="冲突说明")
    version: int = Field(description="客户当前的版本号；请重新读取后再修改")


class Me(Schema):
    id: int = Field(description="用户 ID")
    username: str = Field(description="用户名")
    name: str = Field(description="显示名称")
    role: str = Field(description="角色：admin=管理员，manager=经理，sales=销售，service=客服，viewer=只读")
    sees_contact_details: bool = Field(description="能否看到完整的联系方式")
    sees_all_customers: bool = Field(description="能否看到全部客户（销售只能看到自己负责的）")
    can_edit_customers: bool = Field(description="能否新建和修改")
    can_manage: bool = Field(description="能否删除客户等管理操作")


class UserRef(Schema):
    id: int = Field(description="用户 ID")
    username: str = Field(description="用户名")
    name: str = Field(description="显示名称")


# ---------------------------------------------------------------- customers

class CustomerOut(Schema):
    code: str = Field(description="客户编号")
    name: str = Field(description="姓名/名称")
    kind: str = Field(description=f"类型：{options(Kind.choices)}")
    gender: str = Field(description=f"性别：{options(Gender.choices)}")
    mobile: str = Field(description="手机；无权查看联系方式的角色看到的是掩码，如 138****5678")
    email: str = Field(description="电子邮箱（按角色掩码）")
    wechat: str = Field(description="微信号（按角色掩码）")
    address: str = Field(description="详细地址（按角色掩码）")
    birthday: str = Field(description="生日 YYYY-MM-DD（按角色掩码为 ****-MM-DD）")
    contact_masked: bool = Field(description="联系方式是否已按角色掩码")
    province: str = Field(description="省份")
    city: str = Field(description="城市")
    district: str = Field(description="区县")
    registered_at: datetime.datetime = Field(description="注册时间")
    source: str = Field(description="来源渠道")
    company: str = Field(description="公司")
    industry: str = Field(description="行业")
    company_size: str = Field(description=f"公司规模：{options(CompanySize.choices)}")
    grade: str = Field(description=f"客户评级：{options(Grade.choices)}")
    owner: UserRef | None = Field(description="负责人")
    tags: list[str] = Field(description="标签")
    notes: str = Field(description="备注")
    extra: dict[str, Any] = Field(description="自定义字段（字段键 → 值）")
    version: int = Field(description="版本号；修改时须带上，用于防止覆盖他人的修改")
    created_at: datetime.datetime = Field(description="创建时间")
    updated_at: datetime.datetime = Field(description="更新时间")


class CustomerStats(Schema):
    frequency: int = Field(description="消费频次：已完成订单数（不含退款）")
    monetary: Decimal = Field(description="消费金额（元）：已完成订单合计")
    avg_order_value: Decimal | None = Field(description="客单价（元）")
    last_ordered_at: datetime.datetime | None = Field(description="最近消费时间")


class CustomerDetail(CustomerOut):
    stats: CustomerStats = Field(description="关键数据")


class CustomerRow(CustomerOut):
    cells: dict[str, Any] = Field(description="所选列（cols）的值，键为列名：金额为字符串（两位小数），"
                                              "时间为 ISO 8601，流失概率为百分数；没有该数据的客户为 null")


class CustomerPage(Schema):
    items: list[CustomerRow] = Field(description="本页客户")
    columns: list[str] = Field(description="cells 中的列，按所选顺序")
    total: int = Field(description="符合条件的客户数；total_estimated 为 true 时是数据库的估计值")
    total_estimated: bool = Field(description="total 是否为估计值（PostgreSQL 上超过 10,000 行时）")
    next_cursor: str = Field(description="下一页游标；为空表示没有下一页")
    prev_cursor: str = Field(description="上一页游标；为空表示没有上一页")


class CustomerListParams(Schema):
    """The same filters as the customer list page (CustomerFilter), plus key-set paging."""

    q: str = Field("", description="搜索：客户编号、姓名、公司，或完整的手机号/微信号/邮箱，或手机号后4位；"
                                   "联系方式只对能查看完整联系方式的角色（KEHU_CONTACT_ROLES）匹配，每次记入审计日志")
    province: str = Field("", description="省份")
    city: str = Field("", description="城市")
    industry: str = Field("", description="行业")
    company_size: str = Field("", description=f"公司规模：{options(CompanySize.choices)}")
    tag: str = Field("", description="标签")
    grade: str = Field("", description="客户评级")
    owner: str = Field("", description="负责人的用户 ID；none 表示无负责人")
    kind: str = Field("", description=f"类型：{options(Kind.choices)}")
    rfm_class: str = Field("", description="RFM分层（八类），如 重要价值客户")
    rf_segment: str = Field("", description="RF价值矩阵（RF 网格），如 冠军客户")
    abc_class: str = Field("", description="ABC分类：A、B、C")
    lifecycle: str = Field("", description="生命周期：潜在客户、新客户、活跃客户、忠诚客户、沉睡客户、流失客户")
    trend: str = Field("", description="消费趋势：上升、持平、下降")
    gender: str = Field("", description="性别：male=男、female=女、unknown=未知")
    age_band: str = Field("", description="年龄段（如 25-34、<25、55+，unknown=未知）；只有能查看完整生日的角色"
                                          "（KEHU_CONTACT_ROLES）可用，其他角色返回 422")
    rule: str = Field("", description="规则分群的 ID；不存在的 ID 不匹配任何客户；"
                                      "按年龄段的规则分群同样只限能查看完整生日的角色")
    sort: str = Field("-id", description=(
        f"排序：{'，'.join(f'{k}={v}' for k, v in SORTS.items())}；或任一可排序的列名（前加 - 为从大到小）："
        f"{'、'.join(SORT_FIELDS)}，如 -total_spend、-churn_probability。没有该数据的客户排在最后。"))
    cols: str = Field("", description=(
        f"列（逗号分隔，按此顺序出现在 cells 中）：{'，'.join(f'{k}={v.label}' for k, v in COLUMNS.items())}；"
        f"为空时为默认列 {','.join(DEFAULT_COLUMNS)}"))
    cursor: str = Field("", description="上一页响应中的 next_cursor 或 prev_cursor；为空表示第一页")
    limit: int = Field(50, ge=1, le=200, description="每页条数（1–200）")


class CustomerFields(StrictIn):
    code: str | None = Field(None, description="客户编号；新建时留空则自动生成")
    kind: str | None = Field(None, description=f"类型：{options(Kind.choices)}，默认 person")
    gender: str | None = Field(None, description=f"性别：{options(Gender.choices)}")
    birthday: str | None = Field(None, description="生日 YYYY-MM-DD")
    mobile: str | None = Field(None, description="手机，如 138 1234 5678 或 +8613812345678")
    email: str | None = Field(None, description="电子邮箱")
    wechat: str | None = Field(None, description="微信号")
    province: str | None = Field(None, description="省份")
    city: str | None = Field(None, description="城市")
    district: str | None = Field(None, description="区县")
    address: str | None = Field(None, description="详细地址")
    registered_at: str | None = Field(None, description="注册时间（ISO 8601），默认现在")
    source: str | None = Field(None, description="来源渠道")
    company: str | None = Field(None, description="公司")
    industry: str | None = Field(None, description="行业")
    company_size: str | None = Field(None, description=f"公司规模：{options(CompanySize.choices)}")
    grade: str | None = Field(None, description=f"客户评级：{options(Grade.choices)}")
    owner: int | None = Field(None, description="负责人的用户 ID（销售新建的客户自动归自己）")
    notes: str | None = Field(None, description="备注")
    tags: list[str] | None = Field(None, description="标签名称列表；修改时整体替换")
    extra: dict[str, Any] | None = Field(None, description="自定义字段（字段键 → 值）；修改时只改给出的键")


class CustomerIn(CustomerFields):
    name: str = Field(description="姓名/名称")


class CustomerPatch(CustomerFields):
    name: str | None = Field(None, description="姓名/名称")
    version: int = Field(description="读取客户时得到的版本号；若其间已被他人修改，返回 409")


# ---------------------------------------------------------------- orders

class OrderLineOut(Schema):
    id: int
    product: int | None = Field(description="商品 ID")
    product_name: str = Field(description="商品名称")
    category: str | None = Field(description="品类")
    quantity: Decimal = Field(description="数量")
    unit_price: Decimal = Field(description="单价（元）")
    line_total: Decimal = Field(description="小计（元）")


class OrderOut(Schema):
    id: int
    customer: str = Field(description="客户编号")
    number: str = Field(description="订单号")
    ordered_at: datetime.datetime = Field(description="消费时间")
    amount: Decimal = Field(description="金额（元）")
    payment_method: str = Field(description=f"支付方式：{options(PaymentMethod.choices)}")
    sales_channel: str = Field(description=f"销售渠道：{options(SalesChannel.choices)}")
    status: str = Field(description=f"状态：{options(OrderStatus.choices)}")
    note: str = Field(description="备注")
    lines: list[OrderLineOut] = Field(description="商品明细")
    created_at: datetime.datetime = Field(description="录入时间")


class OrderPage(Schema):
    items: list[OrderOut]
    next_cursor: str = Field(description="下一页游标；为空表示没有下一页")
    prev_cursor: str = Field(description="上一页游标；为空表示没有上一页")


class OrderLineIn(StrictIn):
    product: int | None = Field(None, description="商品 ID；给出时商品名称和单价可省略（取商品的名称和标价）")
    product_name: str | None = Field(None, description="商品名称")
    quantity: Decimal = Field(Decimal("1"), description="数量，默认 1")
    unit_price: Decimal | None = Field(None, description="单价（元）")


class OrderIn(StrictIn):
    ordered_at: str | None = Field(None, description="消费时间（ISO 8601），默认现在")
    amount: Decimal | None = Field(None, description="金额（元）；有明细时可省略，按明细合计")
    payment_method: str | None = Field(None, description=f"支付方式：{options(PaymentMethod.choices)}")
    sales_channel: str | None = Field(None, description=f"销售渠道：{options(SalesChannel.choices)}")
    status: str | None = Field(None, description=f"状态：{options(OrderStatus.choices)}，默认 completed")
    number: str | None = Field(None, description="订单号")
    note: str | None = Field(None, description="备注")
    lines: list[OrderLineIn] = Field([], description="商品明细")


class OrderStatusIn(StrictIn):
    status: str = Field(description=f"新的状态：{options(OrderStatus.choices)}（refunded 即退款，不再计入消费与分层）")


# ---------------------------------------------------------------- communications and follow-ups

class CommunicationOut(Schema):
    id: int
    customer: str = Field(description="客户编号")
    occurred_at: datetime.datetime = Field(description="沟通时间")
    method: str = Field(description=f"沟通方式：{options(CommunicationMethod.choices)}")
    content: str = Field(description="沟通内容")
    outcome: str = Field(description="沟通结果")
    next_follow_up: datetime.date | None = Field(description="下次跟进日期")
    author: UserRef | None = Field(description="记录人")


class CommunicationPage(Schema):
    items: list[CommunicationOut]
    next_cursor: str = Field(description="下一页游标；为空表示没有下一页")
    prev_cursor: str = Field(description="上一页游标；为空表示没有上一页")


class CommunicationIn(StrictIn):
    occurred_at: str | None = Field(None, description="沟通时间（ISO 8601），默认现在")
    method: str = Field(description=f"沟通方式：{options(CommunicationMethod.choices)}")
    content: str = Field(description="沟通内容")
    outcome: str | None = Field(None, description="沟通结果")
    next_follow_up: str | None = Field(None, description="下次跟进日期 YYYY-MM-DD；填写后自动为记录人生成跟进任务")


class FollowUpOut(Schema):
    id: int
    customer: str = Field(description="客户编号")
    customer_name: str = Field(description="客户姓名/名称")
    title: str = Field(description="跟进事项")
    due: datetime.date = Field(description="截止日期")
    assignee: UserRef | None = Field(description="跟进人")
    done: bool = Field(description="已完成")
    done_at: datetime.datetime | None = Field(description="完成时间")
    is_overdue: bool = Field(description="是否已逾期（未完成且截止日期已过）")


class FollowUpIn(StrictIn):
    title: str = Field(description="跟进事项")
    due: str = Field(description="截止日期 YYYY-MM-DD")
    assignee: int | None = Field(None, description="跟进人的用户 ID；默认自己")
