"""Background tasks of the segments app (django-tasks): run by `kehu worker` (see runs.py)."""

from django_tasks import task

from . import runs


@task()
def run_segments(job_id: str) -> int | None:
    """Run the queued classification `job_id` (a SegmentJob); returns its SegmentRun id, or None when it failed."""
    return runs.run(job_id)
