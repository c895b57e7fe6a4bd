"""Pages of 精准营销: the customer-page section (suggestions and playbook), target lists, campaigns."""

from __future__ import annotations

from django.http import HttpRequest

from kehu.customers.models import Customer
from kehu.segments.models import CustomerSegment

from . import playbooks
from .recommend import recommend


def recommendations_context(request: HttpRequest, customer: Customer) -> dict:
    """The customer-page section: what to do with this customer (playbook) and what to suggest."""
    segment = CustomerSegment.objects.filter(customer=customer).first()
    return {
        "customer": customer,
        "actions": playbooks.actions_for(segment),
        "products": recommend([customer.pk]).get(customer.pk, []),
    }
