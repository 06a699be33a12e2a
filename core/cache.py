"""Django's Redis cache, with one client per connection pool, and reads and writes that
fail open.

- ``django.core.cache.backends.redis.RedisCacheClient.get_client`` builds a new
  ``redis.Redis`` for every cache operation, and building one (its table of response
  callbacks) cost more than the round trip to Redis on the annotators' hot path (a
  session read and a rendered-Markdown lookup per request). A ``redis.Redis`` over a
  connection pool is safe to share between threads, and the pool reconnects after a
  fork, so one is kept per pool.
- Everything kept in this cache also lives elsewhere (sessions in the database, through
  ``cached_db``; rendered Markdown can be rendered again), so a Redis that cannot be
  reached turns reads into misses and writes into no-ops, with a warning, instead of
  failing every page. Deletes still raise: a logout must not silently leave a session
  in the cache to come back with Redis (``core.sessions`` records it to be deleted later).
- A Redis that hangs (frozen, not dead) would cost every call its socket timeout. Calls
  are bounded by a short timeout (``CACHE_TIMEOUT_SECONDS``, 0.25 s), and a circuit
  breaker stops calling a Redis that just failed: for ``CACHE_BREAKER_SECONDS`` (5 s)
  every call of this process answers at once as if Redis were unreachable; then one call
  tries again (and closes the breaker, or opens it for another period). A 15 s hang then
  costs each process a few timed-out calls, not one timeout per call.

``cached_compute`` is the helper for figures that are costly to compute (agreement, the
leaderboard): computed once per state of what they are computed from.
"""

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

from django.core.cache import cache
from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
DEFAULT_BREAKER_SECONDS = 5.0
T = TypeVar("T")
_MISSING = object()


def cached_compute(key: str, compute: Callable[[], T], *, timeout: int) -> tuple[T, bool]:
    """The value kept under ``key`` in the shared cache, else ``compute()``, kept there for
    ``timeout`` seconds; with whether it came from the cache. Keys name the state the value
    was computed from (e.g. ``feedback.selectors.project_judgement_state``), so a change
    gives a new key rather than needing a delete. An unreachable cache just computes."""
    value = cache.get(key, _MISSING)
    if value is not _MISSING:
        return value, True
    value = compute()
    cache.set(key, value, timeout)
    return value, False


class CacheUnreachable(RedisConnectionError):
    """The breaker is open: Redis failed a moment ago and is not being called."""


class CircuitBreaker:
    """Open for ``seconds`` after a failure; then one caller at a time may try."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._open_until = 0.0
        self._lock = threading.Lock()
        self.trips = 0

    def allow(self) -> bool:
        """Whether to call Redis now. After the open period the first caller probes it
        (the others still skip it until the probe answers)."""
        if self._open_until == 0.0:
            return True
        with self._lock:
            now = time.monotonic()
            if now < self._open_until:
                return False
            self._open_until = now + self.seconds  # this caller probes
            return True

    def succeeded(self) -> None:
        if self._open_until != 0.0:
            self.reset()

    def failed(self) -> None:
        with self._lock:
            self._open_until = time.monotonic() + self.seconds
            self.trips += 1

    def reset(self) -> None:
        with self._lock:
            self._open_until = 0.0

    @property
    def is_open(self) -> bool:
        return time.monotonic() < self._open_until


class RedisCacheClient(django_redis.RedisCacheClient):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._clients: dict[int, Any] = {}

    # django-stubs does not declare the private helpers used here (Django 5.2 has them).
    def get_client(self, key: Any = None, *, write: bool = False) -> Any:
        index = self._get_connection_pool_index(write)  # type: ignore[attr-defined]
        client = self._clients.get(index)
        if client is None:
            pool = self._get_connection_pool(write)  # type: ignore[attr-defined]
            client = self._client(connection_pool=pool)  # type: ignore[attr-defined]
            self._clients[index] = client
        return client


class RedisCache(django_redis.RedisCache):
    def __init__(self, server: str, params: dict[str, Any]) -> None:
        options = dict(params.get("OPTIONS") or {})
        breaker_seconds = float(options.pop("breaker_seconds", DEFAULT_BREAKER_SECONDS))
        super().__init__(server, {**params, "OPTIONS": options})
        self._class = RedisCacheClient
        self.breaker = CircuitBreaker(breaker_seconds)

    def _call(self, operation: str, call: Any, fallback: Any, *, raises: bool = False) -> Any:
        if not self.breaker.allow():
            if raises:
                raise CacheUnreachable("the cache failed a moment ago; not calling it yet")
            return fallback
        try:
            result = call()
        except UNREACHABLE as error:
            self.breaker.failed()
            logger.warning("cache %s failed, carrying on without the cache: %s", operation, error)
            if raises:
                raise
            return fallback
        self.breaker.succeeded()
        return result

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        return self._call(
            "read", lambda: super(RedisCache, self).get(key, default, version), default
        )

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        return self._call("read", lambda: super(RedisCache, self).get_many(keys, version), {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        return self._call("read", lambda: super(RedisCache, self).has_key(key, version), False)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        self._call("write", lambda: super(RedisCache, self).set(key, value, timeout, version), None)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        return self._call(
            "write", lambda: super(RedisCache, self).add(key, value, timeout, version), False
        )

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        return self._call(
            "write", lambda: super(RedisCache, self).set_many(data, timeout, version), list(data)
        )

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        return self._call(
            "write", lambda: super(RedisCache, self).touch(key, timeout, version), False
        )

    def delete(self, key: Any, version: int | None = None) -> bool:
        return self._call(
            "delete", lambda: super(RedisCache, self).delete(key, version), False, raises=True
        )

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        self._call(
            "delete", lambda: super(RedisCache, self).delete_many(keys, version), None, raises=True
        )

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        return self._call(
            "write", lambda: super(RedisCache, self).incr(key, delta, version), 0, raises=True
        )
