"""The shared cache: every app process of a store sees the same entries and the same invalidations.

Django's database cache in the store itself by default (its table `kehu_cache` is made by a migration of the
ops app), Redis when `KEHU_REDIS_URL` is set. On SQLite a cache write waits only briefly for a busy store
(a long import) and is dropped if it cannot get in — a cached page is rebuilt next time; an invalidation
(delete) waits like any write, so no process keeps serving what another changed.
"""

from django.core.cache.backends.db import DatabaseCache
from django.db import OperationalError

from .db import waiting_at_most

WRITE_WAIT_SECONDS = 0.25


class StoreCache(DatabaseCache):
    def _base_set(self, mode, key, value, timeout=None):
        try:
            with waiting_at_most(WRITE_WAIT_SECONDS):
                return super()._base_set(mode, key, value, timeout)
        except OperationalError:  # the store is busy: not worth a wait
            return False
