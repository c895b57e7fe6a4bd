"""The customer list's table rows as HTML.

Built here, not in the template: 50 rows of a dozen cells, each chosen among seven {% if %} branches, cost the
template engine more than everything else on the page. Each cell's value comes from `columns.cell`, so the page
shows what the JSON API and the export give; the contact fields not shown are never read (`unshown_fields`),
and the mobile is decrypted only when its column is chosen, masked for a role that may not see it.
"""

from collections.abc import Callable
from urllib.parse import quote

from django.urls import reverse
from django.utils.html import escape
from django.utils.http import RFC3986_SUBDELIMS
from django.utils.safestring import SafeString, mark_safe

from .columns import COLUMNS, cell, cell_text
from .converters import CustomerCodeConverter
from .models import Customer


def unshown_fields(keys: list[str]) -> list[str]:
    """The fields a page of the list does not read: the encrypted contact fields its columns do not show (so they
    are never decrypted), the notes and the custom fields' JSON."""
    return [name for name in Customer.CONTACT_FIELDS if name not in keys] + ["notes", "extra"]


def detail_url_maker() -> Callable[[str], str]:
    """code → the customer page's URL, as Customer.get_absolute_url() gives it, with one reverse() per page
    instead of one per row: the path around the code, and the code escaped as reverse() escapes it."""
    marker = "0"
    head, tail = reverse("customers:detail", args=[marker]).rsplit(marker, 1)
    converter = CustomerCodeConverter()
    return lambda code: head + quote(converter.to_url(code), safe=RFC3986_SUBDELIMS + "/~:@") + tail


def list_rows(customers: list[Customer], keys: list[str], user) -> list[tuple[Customer, SafeString]]:
    """(customer, the row's cells as HTML) for each customer of a page."""
    masked = not user.sees_contact_details
    detail_url = detail_url_maker()
    rows = []
    for customer in customers:
        url = escape(detail_url(customer.code))
        contact = {"mobile": customer.mobile_for(user)} if "mobile" in keys else {}
        cells = [_cell_html(customer, key, cell(customer, key, contact), url, masked) for key in keys]
        rows.append((customer, mark_safe("".join(cells))))
    return rows


def _cell_html(customer: Customer, key: str, value, url: str, masked: bool) -> str:
    match key:
        case "code":
            return f'<td class="mono"><a href="{url}">{escape(customer.code)}</a></td>'
        case "name":
            return f'<td><a href="{url}">{escape(customer.name)}</a></td>'
        case "mobile":
            return f'<td class="{"masked " if masked else ""}nowrap">{escape(value or "—")}</td>'
        case "company":
            if customer.company:
                return f"<td>{escape(customer.company)}</td>"
            return f'<td><span class="muted">{escape(value)}</span></td>'
        case "grade":
            grade = escape(customer.grade)
            return f'<td><span class="grade grade-{grade}">{grade}</span></td>' if grade else "<td></td>"
        case "tags":
            return "<td>" + "".join(f'<span class="tag">{escape(tag)}</span>' for tag in value) + "</td>"
    numeric = "num " if COLUMNS[key].numeric else ""
    return f'<td class="{numeric}nowrap" data-col="{key}">{escape(cell_text(value))}</td>'
