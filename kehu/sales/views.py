"""Orders on the customer page: the order history section, adding an order with its lines, and marking an
order refunded (or completed again)."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_POST

from kehu.customers.models import Customer
from kehu.customers.views import confirm_saved, customer_or_404, key_figures, render_section
from kehu.lib.params import BadParameter

from .forms import OrderForm, OrderLineFormSet, save_order, set_status, status_problem
from .models import Order

ORDERS_SHOWN = 100


def orders_context(request: HttpRequest, customer: Customer, form: OrderForm | None = None,
                   lines=None, open_form: bool = False) -> dict:
    orders = list(customer.orders.prefetch_related("lines")[: ORDERS_SHOWN + 1])
    return {
        "customer": customer,
        "orders": orders[:ORDERS_SHOWN],
        "more_orders": len(orders) > ORDERS_SHOWN,
        "order_form": form or OrderForm(prefix="order"),
        "line_forms": lines if lines is not None else OrderLineFormSet(prefix="lines", instance=Order()),
        "open_form": open_form,
    }


@login_required
@require_POST
def add_order(request: HttpRequest, code: str) -> HttpResponse:
    customer = customer_or_404(request, code, write=True)
    lines = OrderLineFormSet(request.POST, prefix="lines", instance=Order())
    form = OrderForm(request.POST, prefix="order", lines=lines)
    if not (form.is_valid() and lines.is_valid()):
        context = orders_context(request, customer, form, lines, open_form=True)
        return render_section(request, customer, "sales/_orders.html", context, saved=False)
    save_order(form, lines, customer, request.user)
    return _orders_changed(request, customer)


@login_required
@require_POST
def set_order_status(request: HttpRequest, code: str, order_id: int) -> HttpResponse:
    """Mark one of the customer's orders refunded, or completed again: its spend leaves (or rejoins) the
    customer's figures and classes at once. Only an order of this customer (404 for any other)."""
    customer = customer_or_404(request, code, write=True)
    order = get_object_or_404(customer.orders, pk=order_id)
    status = request.POST.get("status", "")
    if problem := status_problem(status):
        raise BadParameter("status", problem)   # kehu's 400 page, with the message
    set_status(order, status, request.user)
    return _orders_changed(request, customer)


def _orders_changed(request: HttpRequest, customer: Customer) -> HttpResponse:
    """The answer to a change of the customer's orders: the order list; for HTMX also the key figures, the class
    panel and the suggestions (out of band), which follow the orders."""
    context = orders_context(request, customer)
    if request.htmx:
        return confirm_saved(request, render(request, "sales/_orders_changed.html",
                                             {**context, "figures": key_figures(customer)}))
    return render_section(request, customer, "sales/_orders.html", context, saved=True, anchor="orders")
