"""Template helpers for the web app: money, query strings, and the sections of the customer page.

The customer page lives in `customers`, which may not import `sales` or `engagement` (imports flow
one way). Each of those apps renders its own section; `{% customer_section %}` (here, in the top
layer) stitches them into the page at render time.
"""

from django import template
from django.http import QueryDict
from django.template.loader import render_to_string
from django.utils.html import format_html

from kehu.lib import money as _money

register = template.Library()


@register.inclusion_tag("web/settings/_menu.html", takes_context=True)
def settings_menu(context, current: str = "") -> dict:
    """The settings pages the signed-in user may open (lib/settings_menu.py), `current` marked."""
    from kehu.lib.settings_menu import pages_for

    return {"pages": pages_for(context["request"].user), "current": current}


@register.filter
def money(value) -> str:
    """An amount in the shop's currency (kehu.lib.money): Decimal('1234.5') → '¥1,234.50' (JPY: 'JP¥1,235');
    None → '—'."""
    return _money.fmt(value)


@register.simple_tag
def money_unit(label: str) -> str:
    """A header or axis name with the shop's unit: {% money_unit "消费金额" %} → '消费金额（元）'."""
    return _money.header(label)


@register.filter
def money_label(label) -> str:
    """A label written for yuan in the shop's currency: '单价（元）' → '单价（港元）'."""
    return _money.unit_label(label)


@register.simple_tag
def currency_symbol() -> str:
    return _money.symbol()


@register.simple_tag
def currency_code() -> str:
    return _money.current().code


@register.filter(name="class_label")
def class_label_filter(value) -> str:
    """A stored class name in the reader's language (kehu.lib.labels.class_label)."""
    from kehu.lib.labels import class_label

    return class_label(value)


@register.filter
def percent(value) -> str:
    """0.4567 → '45.7%'; None → '—'."""
    if value in (None, ""):
        return "—"
    return f"{float(value):.1%}"


@register.filter
def minutes(delta) -> int:
    """A timedelta in whole minutes (at least 1)."""
    return max(1, round(delta.total_seconds() / 60))


@register.simple_tag
def query(params: QueryDict, **changes) -> str:
    """The current query string with some keys replaced or removed (value '' removes)."""
    q = params.copy()
    for key, value in changes.items():
        if value in (None, ""):
            q.pop(key, None)
        else:
            q[key] = value
    encoded = q.urlencode()
    return f"?{encoded}" if encoded else "?"


@register.simple_tag
def stars(score) -> str:
    if not score:
        return ""
    score = round(float(score))
    return format_html('<span class="stars" title="{} / 5">{}<span class="stars-off">{}</span></span>',
                       score, "★" * score, "★" * (5 - score))


@register.simple_tag
def segment_classes(column: str) -> tuple[str, ...]:
    """The class names of a segmentation column, in their own order, for filter forms."""
    from kehu.segments.models import CLASS_NAMES

    return CLASS_NAMES[column]


def _sections() -> dict:
    from kehu.engagement import views as engagement
    from kehu.marketing import views as marketing
    from kehu.sales import views as sales
    from kehu.segments import views as segments

    return {
        "orders": (sales.orders_context, "sales/_orders.html"),
        "preferences": (engagement.preferences_context, "engagement/_preferences.html"),
        "communications": (engagement.communications_context, "engagement/_communications.html"),
        "follow_ups": (engagement.follow_ups_context, "engagement/_follow_ups.html"),
        "feedback": (engagement.feedback_context, "engagement/_feedback.html"),
        "segments": (segments.segment_context, "segments/_segment.html"),
        "recommendations": (marketing.recommendations_context, "marketing/_recommendations.html"),
    }


@register.simple_tag(takes_context=True)
def customer_section(context, name: str, customer, oob: bool = False) -> str:
    """Render one section of the customer page, as the owning app would after a POST; with `oob`, marked to
    replace the section already on the page (an htmx out-of-band swap in another section's response)."""
    builder, template_name = _sections()[name]
    request = context["request"]
    return render_to_string(template_name, {**builder(request, customer), "oob": oob}, request=request)
