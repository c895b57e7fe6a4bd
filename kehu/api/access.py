"""What the caller may see and change: the same rules as the pages (sales see own customers, viewers read)."""

from django.forms import BaseForm

from kehu.accounts.models import User
from kehu.customers.models import Customer

from .errors import forbidden, not_found


def visible_customer(user: User, code: str) -> Customer:
    """The customer with this code if `user` may see it; 404 otherwise (an unseen customer does not exist)."""
    customer = (Customer.objects.visible_to(user).select_related("owner").prefetch_related("tags")
                .filter(code=code).first())
    if customer is None:
        raise not_found(f"没有客户编号为 {code} 的客户，或你无权查看")
    return customer


def require_edit(user: User) -> None:
    if not user.can_edit_customers:
        raise forbidden("只读账号不能修改数据")


def require_manage(user: User) -> None:
    if not user.can_manage:
        raise forbidden("只有管理员和经理可以执行此操作")


def user_ref(user: User | None) -> dict | None:
    if user is None:
        return None
    return {"id": user.pk, "username": user.username, "name": user.display_name}


def form_data(form: BaseForm, payload: dict) -> dict:
    """The form's current values (an instance's values, or the defaults for a new record) with `payload`
    laid over them: fields the caller leaves out keep their value, as when the page is saved unchanged."""
    data = {name: form.get_initial_for_field(field, name) for name, field in form.fields.items()}
    data.update(payload)
    return {name: "" if value is None else value for name, value in data.items()}
