"""Background tasks of the marketing app (django-tasks): run by `kehu worker` (see sends.py)."""

from django_tasks import task

from . import sends


@task()
def send_campaign(send_id: str) -> int | None:
    """Send the queued campaign e-mails `send_id` (a CampaignSend); returns the e-mails sent, or None if it failed."""
    return sends.run(send_id)
