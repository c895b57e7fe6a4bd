"""Communications, follow-ups, feedback and preferences on the customer page, and "my follow-ups"."""

import datetime

from django.contrib.auth.decorators import login_required
from django.db.models import Avg, Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from kehu.customers.models import Customer
from kehu.customers.views import customer_or_404, render_section, require_editor

from .forms import CommunicationForm, FeedbackForm, FollowUpForm, PreferenceForm
from .models import FeedbackRating, FollowUp, Preference
from .services import record_communication

SHOWN = 50
UPCOMING_DAYS = 14


# ---------- sections of the customer page ----------

def _preference(customer: Customer) -> Preference | None:
    return Preference.objects.filter(customer=customer).prefetch_related("categories").first()


def preferences_context(request, customer, form=None, open_form=False) -> dict:
    pref = _preference(customer)
    return {
        "customer": customer, "preference": pref,
        "consents": list(customer.consents.order_by("channel")),
        "preference_form": form or PreferenceForm(instance=pref, prefix="pref"),
        "open_form": open_form,
    }


def communications_context(request, customer, form=None, open_form=False) -> dict:
    return {
        "customer": customer,
        "communications": list(customer.communications.select_related("author")[:SHOWN]),
        "communication_form": form or CommunicationForm(prefix="comm"),
        "open_form": open_form,
    }


def follow_ups_context(request, customer, form=None, open_form=False) -> dict:
    tasks = customer.follow_ups.select_related("assignee")
    return {
        "customer": customer,
        "open_tasks": list(tasks.filter(done=False)),
        "done_tasks": list(tasks.filter(done=True).order_by("-done_at")[:5]),
        "follow_up_form": form or FollowUpForm(prefix="fu", initial={"assignee": request.user.pk}),
        "open_form": open_form,
        "today": timezone.localdate(),
    }


def feedback_context(request, customer, form=None, open_form=False) -> dict:
    return {
        "customer": customer,
        "feedback_list": list(customer.feedback.select_related("recorded_by")
                              .prefetch_related("ratings__dimension")[:SHOWN]),
        "satisfaction": FeedbackRating.objects.filter(feedback__customer=customer).aggregate(avg=Avg("score"))["avg"],
        "feedback_form": form or FeedbackForm(prefix="fb"),
        "open_form": open_form,
    }


# ---------- adding from the customer page ----------

@login_required
@require_POST
def add_communication(request: HttpRequest, code: str) -> HttpResponse:
    customer = customer_or_404(request, code, write=True)
    form = CommunicationForm(request.POST, prefix="comm")
    if not form.is_valid():
        context = communications_context(request, customer, form, open_form=True)
        return render_section(request, customer, "engagement/_communications.html", context, saved=False)
    record_communication(form, customer, request.user)
    context = communications_context(request, customer)
    if request.htmx:
        # A next follow-up date made a task: refresh the follow-ups too (out of band).
        return render(request, "engagement/_communication_added.html",
                      {**context, **follow_ups_context(request, customer), "oob": True})
    return render_section(request, customer, "engagement/_communications.html", context, saved=True,
                          anchor="communications")


@login_required
@require_POST
def add_follow_up(request: HttpRequest, code: str) -> HttpResponse:
    customer = customer_or_404(request, code, write=True)
    form = FollowUpForm(request.POST, prefix="fu")
    saved = form.is_valid()
    if saved:
        task = form.save(commit=False)
        task.customer = customer
        task.created_by = request.user
        task.assignee = task.assignee or request.user
        task.save()
        form = None
    context = follow_ups_context(request, customer, form, open_form=not saved)
    return render_section(request, customer, "engagement/_follow_ups.html", context, saved=saved, anchor="follow-ups")


@login_required
@require_POST
def add_feedback(request: HttpRequest, code: str) -> HttpResponse:
    customer = customer_or_404(request, code, write=True)
    form = FeedbackForm(request.POST, prefix="fb")
    saved = form.is_valid()
    if saved:
        form.instance.customer = customer
        form.instance.recorded_by = request.user
        form.save()
        form = None
    context = feedback_context(request, customer, form, open_form=not saved)
    return render_section(request, customer, "engagement/_feedback.html", context, saved=saved, anchor="feedback")


@login_required
@require_POST
def edit_preferences(request: HttpRequest, code: str) -> HttpResponse:
    customer = customer_or_404(request, code, write=True)
    form = PreferenceForm(request.POST, instance=_preference(customer) or Preference(customer=customer),
                          prefix="pref")
    saved = form.is_valid()
    if saved:
        form.save()
        form = None
    context = preferences_context(request, customer, form, open_form=not saved)
    return render_section(request, customer, "engagement/_preferences.html", context, saved=saved,
                          anchor="preferences")


# ---------- follow-ups ----------

def _my_open_follow_ups(user):
    return (FollowUp.objects.open().filter(assignee=user, customer__in=Customer.objects.visible_to(user))
            .select_related("customer"))


def follow_up_counts(user, today: datetime.date) -> dict[str, int]:
    """The counters of open follow-ups the home page and 我的跟进 show: the user's own, and the team's overdue ones
    for those who manage."""
    horizon = today + datetime.timedelta(days=UPCOMING_DAYS)
    counts = _my_open_follow_ups(user).aggregate(
        overdue=Count("id", filter=Q(due__lt=today)), due_today=Count("id", filter=Q(due=today)),
        upcoming=Count("id", filter=Q(due__gt=today, due__lte=horizon)))
    found = {"overdue": counts["overdue"], "due-today": counts["due_today"],
             "due-total": counts["overdue"] + counts["due_today"], "upcoming": counts["upcoming"]}
    if user.can_manage:  # the manager's home counts everybody's overdue follow-ups too
        found["team-overdue"] = FollowUp.objects.open().filter(due__lt=today).count()
    return found


@login_required
@require_POST
def follow_up_done(request: HttpRequest, pk: int) -> HttpResponse:
    require_editor(request.user)
    task = get_object_or_404(
        FollowUp.objects.select_related("customer", "assignee")
        .filter(customer__in=Customer.objects.visible_to(request.user)), pk=pk)
    if not task.done:
        task.done, task.done_at = True, timezone.now()
        task.save(update_fields=["done", "done_at"])
    context = {"task": task, "today": timezone.localdate(), "show_customer": request.GET.get("show_customer") == "1"}
    if request.htmx:
        context["follow_up_counts"] = follow_up_counts(request.user, context["today"])
        return render(request, "engagement/_follow_up_done.html", context)
    return render_section(request, task.customer, "engagement/_follow_ups.html",
                          follow_ups_context(request, task.customer), saved=True, anchor="follow-ups")


@login_required
def my_follow_ups(request: HttpRequest) -> HttpResponse:
    today = timezone.localdate()
    horizon = today + datetime.timedelta(days=UPCOMING_DAYS)
    tasks = list(_my_open_follow_ups(request.user).filter(due__lte=horizon).order_by("due", "id"))
    return render(request, "engagement/my_follow_ups.html", {
        "today": today,
        "overdue": [t for t in tasks if t.due < today],
        "due_today": [t for t in tasks if t.due == today],
        "upcoming": [t for t in tasks if t.due > today],
        "upcoming_days": UPCOMING_DAYS,
        "show_customer": True,
    })
