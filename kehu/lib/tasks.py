"""Queueing background tasks (django-tasks) the same way everywhere: after the transaction that made their row."""

from django.db import transaction


def enqueue(task, *args: str, background: bool = True) -> None:
    """Queue `task(*args)` for `kehu worker`, once the current transaction commits (a worker never looks for a row
    it cannot see yet); with ``background=False`` (tests on an in-memory database) run it now, in this request."""
    if background:
        transaction.on_commit(lambda: task.enqueue(*args))
    else:
        task.using(backend="immediate").enqueue(*args)


def fail_running(args: list[str], error: str) -> None:
    """The task result of a job whose worker died stays 'running' in django-tasks' table: mark it failed."""
    from django_tasks_db.models import DBTaskResult

    for result in DBTaskResult.objects.running():
        if result.args_kwargs.get("args") == args:
            result.set_failed(RuntimeError(error))
