"""Background tasks of the ops app (django-tasks): the nightly jobs, queued by `kehu worker` (see nightly.py)."""

from django_tasks import task

from . import nightly


@task()
def run_nightly(run_id: str) -> str | None:
    """Run the nightly jobs of the queued NightlyRun `run_id`; returns its final status."""
    return nightly.run(run_id)
