"""Saving customers safely: optimistic locking so two people never overwrite each other silently."""

from django.db import transaction
from django.db.models import F

from .forms import CustomerForm
from .models import Customer


class EditConflict(Exception):
    """Someone else saved the customer after this edit began."""

    def __init__(self, customer: Customer):
        self.current = customer
        super().__init__(
            f"客户 {customer.name}（{customer.code}）已被其他人修改（当前版本 {customer.version}）。"
            "为避免覆盖对方的修改，本次保存未生效，请刷新后重新编辑。"
        )


@transaction.atomic
def save_customer_form(form: CustomerForm, expected_version: int | None = None) -> Customer:
    """Save a valid CustomerForm. For an existing customer the version must still be `expected_version`
    (by default the form's `version`); an edit that does not say which version it changes (none, or 0) is a
    conflict too, never saved over whatever is stored now."""
    instance = form.instance
    if instance.pk:
        if expected_version is None:
            expected_version = form.cleaned_data.get("version")
        if not expected_version:
            raise EditConflict(Customer.objects.get(pk=instance.pk))
        bumped = Customer.objects.filter(pk=instance.pk, version=expected_version).update(version=F("version") + 1)
        if not bumped:
            raise EditConflict(Customer.objects.get(pk=instance.pk))
        instance.version = expected_version + 1
    if getattr(form, "user", None) is not None:
        instance.updated_by = form.user  # who changed it, for the live banner on others' screens
    return form.save()
