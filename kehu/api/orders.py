"""Orders (消费记录) of a customer: list, create and mark refunded (or completed again), through the same forms and
functions as the page."""

from django.http import HttpRequest
from ninja import Field, Query, Router, Schema, Status

from kehu.lib.pagination import keyset_page
from kehu.sales.forms import OrderForm, OrderLineForm, OrderLineFormSet, save_order, set_status, status_problem
from kehu.sales.models import Order

from .access import form_data, require_edit, visible_customer
from .errors import FormInvalid, field_errors, not_found
from .schemas import CustomerCode, Error, FieldErrors, OrderIn, OrderOut, OrderPage, OrderStatusIn

router = Router(tags=["消费记录"])
LINES = "lines"


class PageParams(Schema):
    cursor: str = Field("", description="上一页响应中的 next_cursor 或 prev_cursor；为空表示第一页")
    limit: int = Field(50, ge=1, le=200, description="每页条数（1–200）")


def order_out(order: Order, customer_code: str) -> dict:
    return {
        "id": order.pk,
        "customer": customer_code,
        "number": order.number,
        "ordered_at": order.ordered_at,
        "amount": order.amount,
        "payment_method": order.payment_method,
        "sales_channel": order.sales_channel,
        "status": order.status,
        "note": order.note,
        "lines": [
            {"id": line.pk, "product": line.product_id, "product_name": line.product_name,
             "category": line.category.name if line.category else None, "quantity": line.quantity,
             "unit_price": line.unit_price, "line_total": line.line_total}
            for line in order.lines.all()
        ],
        "created_at": order.created_at,
    }


def _lines_formset(lines: list[dict]) -> OrderLineFormSet:
    """The page's line formset, filled from the API's list of lines."""
    data = {f"{LINES}-TOTAL_FORMS": str(len(lines)), f"{LINES}-INITIAL_FORMS": "0",
            f"{LINES}-MIN_NUM_FORMS": "0", f"{LINES}-MAX_NUM_FORMS": "1000"}
    for i, line in enumerate(lines):
        for name, value in form_data(OrderLineForm(), line).items():
            data[f"{LINES}-{i}-{name}"] = str(value)
    return OrderLineFormSet(data=data, instance=Order(), prefix=LINES)


@router.get("/customers/{code:code}/orders", response={200: OrderPage, 404: Error}, summary="客户的消费记录",
            description="按消费时间从新到旧，游标翻页；每个订单带商品明细。")
def list_orders(request: HttpRequest, code: CustomerCode, params: Query[PageParams]):
    customer = visible_customer(request.user, code)
    qs = Order.objects.filter(customer=customer).prefetch_related("lines__category")
    page = keyset_page(qs, "-ordered_at", params.cursor, params.limit)
    return {"items": [order_out(o, customer.code) for o in page.items],
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}


@router.post("/customers/{code:code}/orders", response={201: OrderOut, 403: Error, 404: Error, 422: FieldErrors},
             summary="新增消费记录",
             description="可带商品明细；未填金额时按明细合计（数量 × 单价）。消费时间不能晚于今天。")
def create_order(request: HttpRequest, code: CustomerCode, payload: OrderIn):
    customer = visible_customer(request.user, code)
    require_edit(request.user)
    fields = payload.dict(exclude_unset=True)
    lines = fields.pop("lines", [])
    formset = _lines_formset(lines)
    form = OrderForm(data=form_data(OrderForm(), fields), lines=formset)
    form_ok, lines_ok = form.is_valid(), formset.is_valid()
    if not (form_ok and lines_ok):
        errors = field_errors(form) if not form_ok else {}
        for i, line_form in enumerate(formset.forms):
            for name, messages in line_form.errors.items():
                key = f"lines.{i}" if name == "__all__" else f"lines.{i}.{name}"
                errors[key] = [str(m) for m in messages]
        if formset.non_form_errors():
            errors["lines"] = [str(m) for m in formset.non_form_errors()]
        raise FormInvalid(errors)
    order = save_order(form, formset, customer, request.user)
    order = Order.objects.prefetch_related("lines__category").get(pk=order.pk)
    return Status(201, order_out(order, customer.code))


@router.patch("/customers/{code:code}/orders/{order_id}",
              response={200: OrderOut, 403: Error, 404: Error, 422: FieldErrors}, summary="订单退款或恢复",
              description="把客户的一笔订单标为 refunded（退款）或 completed（恢复为已完成）：客户的消费指标与分层"
                          "随即更新。只改这位客户的订单；状态未变时不做任何修改。")
def set_order_status(request: HttpRequest, code: CustomerCode, order_id: int, payload: OrderStatusIn):
    customer = visible_customer(request.user, code)
    require_edit(request.user)
    order = Order.objects.filter(customer=customer, pk=order_id).first()
    if order is None:
        raise not_found(f"客户 {customer.code} 没有编号为 {order_id} 的订单")
    if problem := status_problem(payload.status):
        raise FormInvalid({"status": [problem]})
    set_status(order, payload.status, request.user)
    order = Order.objects.prefetch_related("lines__category").get(pk=order.pk)
    return order_out(order, customer.code)
