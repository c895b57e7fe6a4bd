"""Customers (客户): list with the page's filters and key-set paging, get, create, update, delete."""

import datetime
from decimal import Decimal

from django.db.models import Count, Max, Sum
from django.http import HttpRequest
from ninja import Query, Router, Status

from kehu.accounts import audit
from kehu.accounts.models import User
from kehu.customers import probes
from kehu.customers.columns import cell, parse_columns, with_columns
from kehu.customers.filters import CustomerFilter, sort_ordering
from kehu.customers.forms import CustomerForm
from kehu.customers.models import Customer
from kehu.customers.services import EditConflict, save_customer_form
from kehu.lib.counting import list_total
from kehu.lib.pagination import keyset_page
from kehu.lib.phones import InvalidMobile
from kehu.sales.models import Order

from .access import form_data, require_edit, require_manage, user_ref, visible_customer
from .errors import FormInvalid, forbidden, not_found
from .schemas import (
    CallerLookupIn,
    Conflict,
    CustomerCode,
    CustomerDetail,
    CustomerIn,
    CustomerListParams,
    CustomerPage,
    CustomerPatch,
    Error,
    FieldErrors,
)

router = Router(tags=["客户"])
CENT = Decimal("0.01")


def customer_out(customer: Customer, user: User) -> dict:
    """A customer as `user` may see it; contact fields come from contact_for(), exactly as on the pages."""
    return {
        "code": customer.code,
        "name": customer.name,
        "kind": customer.kind,
        "gender": customer.gender,
        **customer.contact_for(user),
        "contact_masked": not user.sees_contact_details,
        "province": customer.province,
        "city": customer.city,
        "district": customer.district,
        "registered_at": customer.registered_at,
        "source": customer.source,
        "company": customer.company,
        "industry": customer.industry,
        "company_size": customer.company_size,
        "grade": customer.grade,
        "owner": user_ref(customer.owner),
        "tags": [t.name for t in customer.tags.all()],
        "notes": customer.notes,
        "extra": customer.extra or {},
        "version": customer.version,
        "created_at": customer.created_at,
        "updated_at": customer.updated_at,
    }


def customer_detail(customer: Customer, user: User) -> dict:
    figures = Order.objects.completed().filter(customer=customer).aggregate(
        frequency=Count("id"), monetary=Sum("amount"), last_ordered_at=Max("ordered_at"))
    frequency, monetary = figures["frequency"], figures["monetary"] or Decimal("0")
    stats = {
        "frequency": frequency,
        "monetary": monetary.quantize(CENT),
        "avg_order_value": (monetary / frequency).quantize(CENT) if frequency else None,
        "last_ordered_at": figures["last_ordered_at"],
    }
    return {**customer_out(customer, user), "stats": stats}


# API names of form fields that differ from the form's own.
ERROR_NAMES = {"tag_names": "tags"}


def _customer_form(request: HttpRequest, payload: dict, instance: Customer | None = None) -> CustomerForm:
    """A bound CustomerForm: the customer's current values (or the defaults) overlaid with the payload."""
    user = request.user
    blank = CustomerForm(instance=instance, user=user)
    updates: dict = {}
    extra = payload.pop("extra", None) or {}
    if "tags" in payload:
        updates["tag_names"] = payload.pop("tags") or []
    not_allowed = sorted(name for name in payload if name not in blank.fields)
    if not_allowed:
        raise forbidden(f"你的角色不能填写或修改这些字段：{'、'.join(not_allowed)}")
    updates.update(payload)
    unknown = [key for key in extra if f"cf_{key}" not in blank.fields]
    if unknown:
        raise FormInvalid({f"extra.{key}": ["没有这个自定义字段"] for key in unknown})
    updates.update({f"cf_{key}": value for key, value in extra.items()})
    names = {**ERROR_NAMES, **{f"cf_{cf.key}": f"extra.{cf.key}" for cf in blank.custom_fields}}
    form = CustomerForm(data=form_data(blank, updates), instance=instance, user=user)
    if not form.is_valid():
        duplicate = form.duplicate_of.code if form.duplicate_of else None
        raise FormInvalid.from_form(form, names, duplicate_of=duplicate)
    return form


def _reloaded(customer: Customer) -> Customer:
    return Customer.objects.select_related("owner").prefetch_related("tags").get(pk=customer.pk)


def _json_cell(value):
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime.datetime):
        return value.isoformat()
    return value


@router.get("/customers", response=CustomerPage, summary="客户列表",
            description="与客户列表页相同的筛选条件、列（cols）和排序（可按消费金额、流失概率等任一列）；"
                        "按游标（key-set）翻页。total 为总数（PostgreSQL 上超过 10,000 时为估计值，total_estimated）。"
                        "销售只能看到自己负责的客户；联系方式按角色掩码。")
def list_customers(request: HttpRequest, params: Query[CustomerListParams]):
    flt = CustomerFilter.from_params(request.GET)
    keys = parse_columns(request.GET)
    qs = flt.apply(Customer.objects.visible_to(request.user), request.user)
    total = list_total(qs, whole_table=request.user.sees_all_customers and not flt.active())
    qs = with_columns(qs, [*keys, "owner", "tags"])
    page = keyset_page(qs, sort_ordering(flt.sort), params.cursor, params.limit)
    if request.user.sees_contact_details and page.items:
        audit.record(request.user, audit.AuditAction.VIEW_LIST, codes=[c.code for c in page.items])
    items = []
    for c in page.items:
        out = customer_out(c, request.user)
        out["cells"] = {key: _json_cell(cell(c, key, out)) for key in keys}
        items.append(out)
    return {"items": items, "columns": keys, "total": total.value, "total_estimated": total.estimated,
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}


@router.post("/customers/lookup", response={200: CustomerDetail, 404: Error, 422: FieldErrors, 429: Error},
             summary="来电查询",
             description="按完整手机号查找客户：只返回调用者可以查看的客户，否则 404（与号码不存在时相同）。"
                         "列表搜索不会为看不到完整联系方式的角色匹配联系方式；这是他们按手机号找客户的唯一途径。"
                         "每次查询记入审计日志（号码以密钥哈希保存），每个用户每小时最多 KEHU_LOOKUPS_PER_HOUR 次"
                         "（默认 30），超出返回 429。")
def lookup_customer(request: HttpRequest, payload: CallerLookupIn):
    try:
        customer = probes.caller_lookup(request.user, payload.mobile)
    except InvalidMobile as exc:
        raise FormInvalid({"mobile": [str(exc)]}) from None
    except probes.RateLimited as exc:
        return Status(429, {"detail": probes.rate_limited_message(exc.limit)})
    if customer is None:
        raise not_found("没有找到你可以查看的客户使用这个手机号")
    if request.user.sees_contact_details:
        audit.record(request.user, audit.AuditAction.VIEW, customer)
    return customer_detail(_reloaded(customer), request.user)


@router.get("/customers/{code:code}", response={200: CustomerDetail, 404: Error}, summary="客户详情",
            description="按客户编号读取客户档案及关键数据（消费频次、金额、客单价、最近消费）。")
def get_customer(request: HttpRequest, code: CustomerCode):
    customer = visible_customer(request.user, code)
    if request.user.sees_contact_details:
        audit.record(request.user, audit.AuditAction.VIEW, customer)
    return customer_detail(customer, request.user)


@router.post("/customers", response={201: CustomerDetail, 403: Error, 422: FieldErrors}, summary="新建客户",
             description="与新建客户页面相同的校验：手机号码规范化为 +86…；手机号、邮箱或微信号与已有客户重复时"
                         "返回 422，duplicate_of 给出已有客户的编号。")
def create_customer(request: HttpRequest, payload: CustomerIn):
    require_edit(request.user)
    form = _customer_form(request, payload.dict(exclude_unset=True))
    customer = save_customer_form(form)
    return Status(201, customer_detail(_reloaded(customer), request.user))


@router.patch("/customers/{code:code}", response={200: CustomerDetail, 403: Error, 404: Error, 409: Conflict,
                                               422: FieldErrors},
              summary="修改客户",
              description="只修改请求中给出的字段。必须带上读取时得到的 version；若其间已被他人修改，"
                          "返回 409 和当前版本号，本次修改不生效。")
def update_customer(request: HttpRequest, code: CustomerCode, payload: CustomerPatch):
    customer = visible_customer(request.user, code)
    require_edit(request.user)
    changes = payload.dict(exclude_unset=True)
    version = changes.pop("version")
    form = _customer_form(request, changes, instance=customer)
    try:
        customer = save_customer_form(form, expected_version=version)
    except EditConflict as exc:
        return Status(409, {"detail": str(exc), "version": exc.current.version})
    return customer_detail(_reloaded(customer), request.user)


@router.delete("/customers/{code:code}", response={204: None, 403: Error, 404: Error}, summary="删除客户",
               description="仅管理员和经理可删除；客户的订单、沟通记录、跟进任务和反馈一并删除。")
def delete_customer(request: HttpRequest, code: CustomerCode):
    customer = visible_customer(request.user, code)
    require_manage(request.user)
    customer.delete()
    return Status(204, None)

