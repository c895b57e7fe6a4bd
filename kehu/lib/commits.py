"""Follow-up work that belongs to a write: done inside the write's own transaction, just before it commits.

    with unit_of_work():                 # sales.forms.save_order: an order and its lines
        order.save()                     # a receiver asks: before_commit(("classes", 7), classify_customer_7)
        line.save()                      # asked again with the same key: still done once
    # here the follow-up has run inside the transaction, and the commit covers both

Django runs ``transaction.on_commit`` callbacks after the commit, each in a transaction of its own: on PostgreSQL
that is three more round trips (BEGIN, …, COMMIT) and a second commit per order. Inside a unit of work the
follow-ups run before the commit instead, once per key, in a savepoint (``lib.db.lazy_savepoint``: on PostgreSQL
sent with the follow-up's first statement): one that fails is logged and rolled back alone, the write itself
stands. Outside a unit of work (a plain ``save()``, the admin) ``before_commit`` falls back to
``transaction.on_commit`` (robust, once per key and transaction).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Hashable

from django.db import connection, transaction

from kehu.lib.db import lazy_savepoint

log = logging.getLogger(__name__)


@contextlib.contextmanager
def unit_of_work():
    """``transaction.atomic()`` whose follow-ups (:func:`before_commit`) run inside it before it ends; nested
    in another unit of work, the outer one runs them."""
    if getattr(connection, "kehu_follow_ups", None) is not None:
        with transaction.atomic(savepoint=False):
            yield
        return
    connection.kehu_follow_ups = {}
    try:
        with transaction.atomic(savepoint=False):
            yield
            while connection.kehu_follow_ups:
                key, (func, on_failure) = next(iter(connection.kehu_follow_ups.items()))
                del connection.kehu_follow_ups[key]   # a follow-up may ask for others: they run too
                _run(func, on_failure)
    finally:
        connection.kehu_follow_ups = None


def _run(func: Callable[[], None], on_failure: Callable[[], None] | None) -> None:
    try:
        with lazy_savepoint("kehu_follow_up"):
            func()
    except Exception:
        log.exception("follow-up %r failed; the write it follows is kept", func)
        if on_failure is not None:
            try:
                with transaction.atomic():
                    on_failure()
            except Exception:
                log.exception("the mark of a failed follow-up %r failed too", func)


def before_commit(key: Hashable, func: Callable[[], None], on_failure: Callable[[], None] | None = None) -> None:
    """Run `func` once per `key` before the current unit of work commits; outside one, when the current transaction
    commits (at once outside a transaction). When `func` fails, its writes are rolled back and `on_failure` runs (to
    leave a mark that the follow-up is owed, say)."""
    pending = getattr(connection, "kehu_follow_ups", None)
    if pending is not None:
        pending.setdefault(key, (func, on_failure))
        return
    if connection.in_atomic_block and any(getattr(hook, "follow_up_key", None) == key
                                          for _, hook, _ in connection.run_on_commit):
        return

    def at_commit() -> None:   # after the commit, in autocommit: what `func` wrote in a transaction is rolled back
        at_commit.follow_up_key = None   # done: a later write asks again
        try:
            func()
        except Exception:
            if on_failure is not None:
                on_failure()
            raise   # logged by the robust on_commit

    at_commit.follow_up_key = key
    transaction.on_commit(at_commit, robust=True)
