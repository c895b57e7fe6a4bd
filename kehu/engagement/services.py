"""Recording contact with a customer."""

from django.db import transaction

from .forms import CommunicationForm
from .models import Communication, FollowUp


@transaction.atomic
def record_communication(form: CommunicationForm, customer, author) -> Communication:
    """Save a communication; a next follow-up date becomes a follow-up task for the author."""
    comm = form.save(commit=False)
    comm.customer = customer
    comm.author = author
    comm.save()
    if comm.next_follow_up:
        FollowUp.objects.create(
            customer=customer, title=f"跟进：{comm.content[:40]}", due=comm.next_follow_up,
            assignee=author, communication=comm, created_by=author,
        )
    return comm
