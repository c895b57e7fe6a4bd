"""Order validation shared by the customer page, the API and spreadsheet import."""

from decimal import Decimal

from django import forms
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from kehu.accounts import audit
from kehu.lib import money
from kehu.lib.commits import unit_of_work
from kehu.lib.dates import DateTimeSecondsInput, date_problem

from .models import Order, OrderLine, OrderStatus, Product


class OrderForm(forms.ModelForm):
    amount = forms.DecimalField(label=_("金额（元）"), required=False, min_value=Decimal("0"), max_digits=12,
                                decimal_places=2, help_text=_("填写了明细时可留空，自动按明细合计"),
                                error_messages={"min_value": _("金额不能为负数")})

    class Meta:
        model = Order
        fields = ["ordered_at", "amount", "payment_method", "sales_channel", "status", "number", "note"]
        widgets = {"ordered_at": DateTimeSecondsInput()}

    def __init__(self, *args, lines: "forms.BaseInlineFormSet | None" = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.lines = lines
        self.fields["amount"].label = money.unit_label(self.fields["amount"].label)  # 金额（港元）in HKD

    def clean_ordered_at(self):
        value = self.cleaned_data["ordered_at"]
        if msg := order_time_problem(value):
            raise forms.ValidationError(msg)
        return value

    def clean(self):
        cleaned = super().clean()
        has_lines = self.lines is not None and any(f.has_changed() for f in self.lines.forms)
        if cleaned.get("amount") is None and "amount" not in self.errors and not has_lines:
            self.add_error("amount", _("请填写金额，或填写商品明细"))
        return cleaned


def order_time_problem(value) -> str | None:
    """The one rule on when an order may have happened (a Chinese message, or None)."""
    return date_problem(value, str(_("消费时间")))


def clean_order_values(values: dict) -> tuple[dict, dict[str, str]]:
    """OrderForm's fields and rules without building a form per row (bulk import).

    Returns the cleaned values and {field: Chinese message} for those that fail.
    """
    cleaned, errors = {}, {}
    for name, value in values.items():
        try:
            cleaned[name] = OrderForm.base_fields[name].clean(value)
        except forms.ValidationError as exc:
            errors[name] = exc.messages[0]
    if cleaned.get("ordered_at") and (msg := order_time_problem(cleaned["ordered_at"])):
        errors["ordered_at"] = msg
        del cleaned["ordered_at"]
    return cleaned, errors


class OrderLineForm(forms.ModelForm):
    product = forms.ModelChoiceField(label=_("商品"), queryset=Product.objects.select_related("category"),
                                     required=False)
    product_name = forms.CharField(label=_("商品名称"), required=False, max_length=100)
    unit_price = forms.DecimalField(label=_("单价（元）"), required=False, min_value=Decimal("0"), max_digits=12,
                                    decimal_places=2, error_messages={"min_value": _("单价不能为负数")})

    class Meta:
        model = OrderLine
        fields = ["product", "product_name", "quantity", "unit_price"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["unit_price"].label = money.unit_label(self.fields["unit_price"].label)

    def clean(self):
        cleaned = super().clean()
        product = cleaned.get("product")
        if not product and not cleaned.get("product_name"):
            if self.has_changed():
                raise forms.ValidationError(_("请选择商品或填写商品名称"))
            return cleaned
        if product:
            cleaned["product_name"] = cleaned.get("product_name") or product.name
            if cleaned.get("unit_price") is None:
                cleaned["unit_price"] = product.price
        if cleaned.get("unit_price") is None:
            self.add_error("unit_price", _("请填写单价"))
        return cleaned

    def save(self, commit: bool = True) -> OrderLine:
        line = super().save(commit=False)
        line.product_name = self.cleaned_data["product_name"]
        line.unit_price = self.cleaned_data["unit_price"]
        if line.product_id and not line.category_id:
            line.category_id = line.product.category_id
        if commit:
            line.save()
        return line


OrderLineFormSet = forms.inlineformset_factory(
    Order, OrderLine, form=OrderLineForm, extra=3, can_delete=False, min_num=0,
)


def save_order(order_form: OrderForm, lines: OrderLineFormSet | None, customer, user=None) -> Order:
    """Save an order and its lines, together; with lines and no amount, the amount is their total.

    One unit of work: an order is never left without some of its lines, and what follows an order (the
    customer's classes) is done once, inside the same transaction, not once per line nor in a second one.
    """
    with unit_of_work():
        order = order_form.save(commit=False)
        order.customer = customer
        if user is not None and user.is_authenticated:
            order.created_by = user
        line_forms = [f for f in (lines.forms if lines is not None else []) if f.has_changed() and f.is_valid()]
        if order_form.cleaned_data.get("amount") is None:
            order.amount = sum((f.cleaned_data["quantity"] * f.cleaned_data["unit_price"] for f in line_forms),
                               Decimal("0")).quantize(Decimal("0.01"))
        order.save()
        for f in line_forms:
            f.instance.order = order
            f.save()
    return order


def status_problem(status: str) -> str | None:
    """Why `status` is no order status (a message in the user's language), or None."""
    if status in OrderStatus.values:
        return None
    return gettext("未知的订单状态：%(status)s（可选：%(choices)s）。") % {
        "status": status[:40], "choices": " / ".join(OrderStatus.values)}


def set_status(order: Order, status: str, user) -> bool:
    """Mark an order refunded, or completed again (a valid status: :func:`status_problem`): its spend leaves or
    rejoins the customer's metrics and classes in the same transaction, and the change is audited. The order's row
    is locked and read again first, so of two people pressing at once the second finds it done and changes nothing
    (the metrics would otherwise take its spend away twice). Returns whether anything changed."""
    with unit_of_work():
        current = Order.objects.select_for_update().get(pk=order.pk)
        if current.status == status:
            return False
        was, current.status = current.status, status
        current.save()
        audit.record(user, audit.AuditAction.UPDATE, current, {"changes": {"status": [was, status]}})
    return True
