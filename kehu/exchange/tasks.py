"""Background tasks of the exchange app (django-tasks): run by `kehu worker` (see jobs.py)."""

from django_tasks import task

from . import exports, jobs


@task()
def run_import(job_id: str) -> int | None:
    """Run the queued web import `job_id` (an ImportJob); returns its batch id, or None when it failed."""
    return jobs.run(job_id)


@task()
def run_export(job_id: str) -> int | None:
    """Write the queued export `job_id` (an ExportJob); returns the rows written, or None when it failed."""
    return exports.run(job_id)
