"""Communications (沟通记录) and follow-ups (跟进任务), through the page's forms and services."""

import datetime

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema, Status

from kehu.accounts.models import User
from kehu.customers.models import Customer
from kehu.engagement.forms import CommunicationForm, FollowUpForm
from kehu.engagement.models import Communication, FollowUp
from kehu.engagement.services import record_communication
from kehu.lib.pagination import keyset_page

from .access import form_data, require_edit, user_ref, visible_customer
from .errors import FormInvalid, not_found
from .schemas import (
    CommunicationIn,
    CommunicationOut,
    CommunicationPage,
    CustomerCode,
    Error,
    FieldErrors,
    FollowUpIn,
    FollowUpOut,
)

router = Router(tags=["沟通与跟进"])


class PageParams(Schema):
    cursor: str = Field("", description="上一页响应中的 next_cursor 或 prev_cursor；为空表示第一页")
    limit: int = Field(50, ge=1, le=200, description="每页条数（1–200）")


class FollowUpParams(PageParams):
    status: str = Field("open", description="open=未完成（默认），done=已完成，all=全部")
    due_by: datetime.date | None = Field(None, description="只看截止日期在此日或之前的（含逾期），如今天")


class FollowUpPage(Schema):
    items: list[FollowUpOut]
    next_cursor: str = Field(description="下一页游标；为空表示没有下一页")
    prev_cursor: str = Field(description="上一页游标；为空表示没有上一页")


def communication_out(comm: Communication, customer_code: str) -> dict:
    return {"id": comm.pk, "customer": customer_code, "occurred_at": comm.occurred_at, "method": comm.method,
            "content": comm.content, "outcome": comm.outcome, "next_follow_up": comm.next_follow_up,
            "author": user_ref(comm.author)}


def follow_up_out(task: FollowUp) -> dict:
    return {"id": task.pk, "customer": task.customer.code, "customer_name": task.customer.name,
            "title": task.title, "due": task.due, "assignee": user_ref(task.assignee), "done": task.done,
            "done_at": task.done_at, "is_overdue": task.is_overdue}


def _visible_follow_ups(user: User):
    qs = FollowUp.objects.select_related("customer", "assignee")
    if not user.sees_all_customers:
        qs = qs.filter(customer__in=Customer.objects.visible_to(user))
    return qs


def _follow_up_page(qs, params: FollowUpParams) -> dict:
    if params.status == "open":
        qs = qs.filter(done=False)
    elif params.status == "done":
        qs = qs.filter(done=True)
    if params.due_by:
        qs = qs.filter(due__lte=params.due_by)
    page = keyset_page(qs, "due", params.cursor, params.limit)
    return {"items": [follow_up_out(t) for t in page.items],
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}


@router.get("/customers/{code:code}/communications", response={200: CommunicationPage, 404: Error},
            summary="客户的沟通记录", description="按沟通时间从新到旧，游标翻页。")
def list_communications(request: HttpRequest, code: CustomerCode, params: Query[PageParams]):
    customer = visible_customer(request.user, code)
    qs = Communication.objects.filter(customer=customer).select_related("author")
    page = keyset_page(qs, "-occurred_at", params.cursor, params.limit)
    return {"items": [communication_out(c, customer.code) for c in page.items],
            "next_cursor": page.next_cursor, "prev_cursor": page.prev_cursor}


@router.post("/customers/{code:code}/communications",
             response={201: CommunicationOut, 403: Error, 404: Error, 422: FieldErrors},
             summary="新增沟通记录", description="记录人为当前用户；填写下次跟进日期时自动生成一条跟进任务。")
def create_communication(request: HttpRequest, code: CustomerCode, payload: CommunicationIn):
    customer = visible_customer(request.user, code)
    require_edit(request.user)
    form = CommunicationForm(data=form_data(CommunicationForm(), payload.dict(exclude_unset=True)))
    if not form.is_valid():
        raise FormInvalid.from_form(form)
    comm = record_communication(form, customer, request.user)
    return Status(201, communication_out(comm, customer.code))


@router.get("/follow-ups", response=FollowUpPage, summary="我的跟进任务",
            description="分配给当前用户的跟进任务，按截止日期排序；due_by=今天 即“今天到期及逾期”。")
def my_follow_ups(request: HttpRequest, params: Query[FollowUpParams]):
    return _follow_up_page(_visible_follow_ups(request.user).filter(assignee=request.user), params)


@router.get("/customers/{code:code}/follow-ups", response={200: FollowUpPage, 404: Error}, summary="客户的跟进任务",
            description="该客户的跟进任务（任何跟进人），按截止日期排序。")
def customer_follow_ups(request: HttpRequest, code: CustomerCode, params: Query[FollowUpParams]):
    customer = visible_customer(request.user, code)
    return _follow_up_page(FollowUp.objects.select_related("customer", "assignee").filter(customer=customer), params)


@router.post("/customers/{code:code}/follow-ups", response={201: FollowUpOut, 403: Error, 404: Error, 422: FieldErrors},
             summary="新增跟进任务", description="未指定跟进人时分配给自己。")
def create_follow_up(request: HttpRequest, code: CustomerCode, payload: FollowUpIn):
    customer = visible_customer(request.user, code)
    require_edit(request.user)
    fields = payload.dict(exclude_unset=True)
    fields.setdefault("assignee", request.user.pk)
    form = FollowUpForm(data=form_data(FollowUpForm(), fields))
    if not form.is_valid():
        raise FormInvalid.from_form(form)
    task = form.save(commit=False)
    task.customer = customer
    task.created_by = request.user
    task.save()
    return Status(201, follow_up_out(task))


@router.post("/follow-ups/{follow_up_id}/done", response={200: FollowUpOut, 403: Error, 404: Error},
             summary="完成跟进任务", description="标记为已完成（重复调用不改变完成时间）。")
def complete_follow_up(request: HttpRequest, follow_up_id: int):
    task = _visible_follow_ups(request.user).filter(pk=follow_up_id).first()
    if task is None:
        raise not_found("没有这条跟进任务，或你无权查看")
    require_edit(request.user)
    if not task.done:
        task.done, task.done_at = True, timezone.now()
        task.save(update_fields=["done", "done_at"])
    return follow_up_out(task)
