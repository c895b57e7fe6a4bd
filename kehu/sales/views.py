"""Orders on the customer page: the order history section and adding an order with its lines."""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from kehu.customers.models import Customer
from kehu.customers.views import confirm_saved, customer_or_404, key_figures, render_section

from .forms import OrderForm, OrderLineFormSet, save_order
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
    context = orders_context(request, customer)
    if request.htmx:
        # The order list, plus the key figures at the top of the page (out of band).
        return confirm_saved(request, render(request, "sales/_order_added.html",
                                             {**context, "figures": key_figures(customer)}))
    return render_section(request, customer, "sales/_orders.html", context, saved=True, anchor="orders")
