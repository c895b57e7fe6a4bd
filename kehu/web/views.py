"""The home page: what needs doing today, and a few figures that matter."""

import datetime

from django.contrib.auth.decorators import login_required
from django.db.models import Count, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.translation import gettext as _

from kehu.accounts.models import Role
from kehu.customers.models import Customer
from kehu.engagement.models import FollowUp
from kehu.sales.models import Order

from . import priorities

FOLLOW_UPS_SHOWN = 10


def _greeting(hour: int) -> str:
    if hour < 11:
        return _("早上好")
    if hour < 13:
        return _("中午好")
    return _("下午好") if hour < 18 else _("晚上好")


@login_required
def home(request: HttpRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    month_start = timezone.make_aware(datetime.datetime(today.year, today.month, 1))
    visible = Customer.objects.visible_to(user)
    due = FollowUp.objects.due_by(today).filter(assignee=user, customer__in=visible)
    due_list = list(due.select_related("customer", "assignee").order_by("due", "id")[:FOLLOW_UPS_SHOWN])
    counts = due.aggregate(total=Count("id"))
    overdue = due.filter(due__lt=today).count()
    month_orders = Order.objects.completed().filter(customer__in=visible, ordered_at__gte=month_start) \
        .aggregate(n=Count("id"), total=Sum("amount"))
    hour = timezone.localtime().hour
    return render(request, "web/home.html", {
        **_priorities(user, today),
        "greeting": _greeting(hour),
        "today": today,
        "due_list": due_list,
        "due_total": counts["total"],
        "overdue": overdue,
        "due_today": counts["total"] - overdue,
        "more_due": counts["total"] > len(due_list),
        "my_customers": Customer.objects.filter(owner=user).count(),
        "new_this_month": visible.filter(registered_at__gte=month_start).count(),
        "month_orders": month_orders["n"],
        "month_revenue": month_orders["total"],
    })



def _priorities(user, today) -> dict:
    """What a manager or admin decides today, or what customer service answers; nothing more for others."""
    if user.can_manage:
        return {"manager_home": True, "at_risk": priorities.at_risk(user),
                "birthdays": priorities.birthdays(user, today), "overdue_by_rep": priorities.overdue_by_rep(today),
                "yesterday": priorities.yesterday(user, today), "import_problems": priorities.import_problems(today)}
    if user.role == Role.SERVICE:
        return {"low_feedback": priorities.open_low_feedback(user, today)}
    return {}
