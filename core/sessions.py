"""Sessions read from the shared cache and written through to the database (Django's
``cached_db``), with a logout that works while the cache is unreachable.

Logging out deletes the session row first, then the cached copy. When the cache cannot
be reached, the session is still ended (its row is gone), but the cached copy would come
back with Redis and, read from the cache, would log the user in again. So the key is
recorded in ``core.models.CacheDeletePending``; every process refuses a recorded key
when it loads a session (it reads the table at most every ``PENDING_REFRESH_SECONDS``)
and deletes the cached copies as soon as the cache answers, then the records.
``ended_without_cache`` tells the logout page to say so.
"""

import logging
import threading
import time
from typing import Any

from django.conf import settings
from django.contrib.sessions.backends import cached_db
from django.contrib.sessions.backends.db import SessionStore as DBStore
from django.core.cache import caches

from core.cache import UNREACHABLE
from core.models import CacheDeletePending

logger = logging.getLogger(__name__)

PENDING_REFRESH_SECONDS = 2.0


class _Pending:
    """This process's copy of the recorded keys, refreshed from the database."""

    def __init__(self) -> None:
        self.keys: frozenset[str] = frozenset()
        self.checked = float("-inf")
        self.lock = threading.Lock()

    def contains(self, cache: Any, key: str) -> bool:
        if time.monotonic() - self.checked >= PENDING_REFRESH_SECONDS:
            self.refresh(cache)
        return key in self.keys

    def refresh(self, cache: Any) -> None:
        with self.lock:
            self.checked = time.monotonic()
            keys = list(CacheDeletePending.objects.values_list("key", flat=True)[:10_000])
            self.keys = frozenset(keys)
        if keys:
            try:
                cache.delete_many(keys)
            except UNREACHABLE:
                return
            CacheDeletePending.objects.filter(key__in=keys).delete()
            logger.info("deleted %s cached sessions of logouts made without the cache", len(keys))


pending = _Pending()


class SessionStore(cached_db.SessionStore):
    ended_without_cache = False

    @property
    def cache(self) -> Any:
        """The sessions' cache (the one ``cached_db`` reads, by its public setting)."""
        return caches[settings.SESSION_CACHE_ALIAS]

    def load(self) -> dict[str, Any]:
        key = self.session_key
        if key and pending.contains(self.cache, self.cache_key_prefix + key):
            self._session_key = None
            return {}
        data: dict[str, Any] = super().load()
        return data

    def delete(self, session_key: str | None = None) -> None:
        DBStore.delete(self, session_key)
        if session_key is None:
            if self.session_key is None:
                return
            session_key = self.session_key
        key = self.cache_key_prefix + session_key
        try:
            self.cache.delete(key)
        except UNREACHABLE as error:
            CacheDeletePending.objects.get_or_create(key=key)
            pending.checked = float("-inf")  # this process refuses it from now on
            self.ended_without_cache = True
            logger.warning("session ended; its cached copy is deleted later (%s)", error)
