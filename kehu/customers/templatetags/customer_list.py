"""Template helpers of the customer list: its filter menus' options, built in one pass.

The filter form holds some two hundred options (provinces, cities, owners, classes, sorts); written as
{% for %}/{% if %} per option they cost the template engine more than the query behind the page.
"""

from collections.abc import Callable, Iterable

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from kehu.lib.labels import class_label

register = template.Library()

LABELS: dict[str, Callable[[str], str]] = {"class": class_label}


@register.simple_tag
def options(choices: Iterable, selected, prefix: str = "", label: str = "") -> SafeString:
    """<option>s for `choices` — plain values, or (value, label) pairs — with `selected` (compared as text)
    marked; each label after `prefix`, and passed through LABELS[label] when given ("class": class names)."""
    chosen = "" if selected is None else str(selected)
    shown = LABELS.get(label)
    parts = []
    for choice in choices:
        value, text = choice if isinstance(choice, tuple | list) else (choice, choice)
        value = str(value)
        text = shown(text) if shown else text
        mark = " selected" if value == chosen else ""
        parts.append(f'<option value="{escape(value)}"{mark}>{escape(prefix)}{escape(text)}</option>')
    return mark_safe("".join(parts))
