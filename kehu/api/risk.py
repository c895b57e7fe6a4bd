"""The risk list (流失风险名单): the segments page's rows as JSON, with its filters, sort and key-set paging."""

from decimal import Decimal

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema

from kehu.segments import risk

from .access import user_ref
from .schemas import UserRef

router = Router(tags=["客户分层"])


class RiskParams(Schema):
    owner: str = Field("", description="负责人的用户 ID；none 表示无负责人")
    rfm_class: str = Field("", description="RFM分层（八类），如 重要挽留客户")
    province: str = Field("", description="省份")
    sort: str = Field(risk.DEFAULT_SORT, description="排序：" + "，".join(
        f"{key}={label}" for key, (label, _field) in risk.SORTS.items()) + "；未知值按默认排序")
    cursor: str = Field("", description="上一页响应中的 next_cursor 或 prev_cursor；为空表示第一页")
    limit: int = Field(50, ge=1, le=200, description="每页条数（1–200）")


class RiskRow(Schema):
    code: str = Field(description="客户编号")
    name: str = Field(description="姓名/名称")
    owner: UserRef | None = Field(description="负责人")
    province: str = Field(description="省份")
    rfm_class: str = Field(description="RFM分层（八类）")
    churn_probability: float = Field(description="流失概率 = 1 − 仍活跃的概率（0–1）")
    expected_purchases_90d: float = Field(description="预计未来 90 天有消费的天数（一天内多笔订单算一天）")
    clv: Decimal = Field(description="若仍活跃，未来 12 个月的消费额（元，按月 1% 折现）")
    value_at_risk: Decimal = Field(description="流失风险价值 = 流失概率 × 未来 12 个月价值（元）")
    action: str = Field(description="建议行动（营销建议）")


class RiskPage(Schema):
    items: list[RiskRow] = Field(description="本页客户，按 sort 排序")
    next_cursor: str = Field(description="下一页游标；为空表示没有下一页")
    prev_cursor: str = Field(description="上一页游标；为空表示没有上一页")


@router.get("/risk", response=RiskPage, summary="流失风险名单",
            description="有消费记录的客户，默认按流失风险价值从高到低，与“分层分析 → 流失风险名单”页面相同的"
                        "筛选与排序；按游标（key-set）翻页。销售只能看到自己负责的客户；不含联系方式。")
def risk_list(request: HttpRequest, params: Query[RiskParams]):
    query = risk.RiskQuery.from_params(params.dict(), request.user)
    page = query.page(params.cursor, params.limit)
    actions = page.extra["actions"]
    items = [{
        "code": s.customer.code, "name": s.customer.name, "owner": user_ref(s.customer.owner),
        "province": s.customer.province, "rfm_class": s.rfm_class, "churn_probability": 1 - s.p_alive,
        "expected_purchases_90d": s.expected_purchases_90d or 0.0, "clv": s.clv, "value_at_risk": s.value_at_risk,
        "action": actions.get(s.customer_id, ""),
    } for s in page.items]
    return {"items": items, "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}
