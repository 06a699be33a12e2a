"""A Redis cache backend on redis-py's public API (Django's ``BaseCache``, as Django documents
for custom backends), with one client per server, and reads and writes that fail open.

- Django's own Redis cache builds a new ``redis.Redis`` for every cache operation, and
  building one (its table of response callbacks) cost more than the round trip to Redis on
  the annotators' hot path (a session read and a rendered-Markdown lookup per request); it
  has no public way to keep one. A ``redis.Redis`` over a connection pool is safe to share
  between threads, and the pool reconnects after a fork, so one is kept per server. Values
  are stored as Django's Redis cache stores them (integers raw, the rest pickled).
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
import pickle
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import redis
from django.core.cache import cache
from django.core.cache.backends.base import DEFAULT_TIMEOUT, BaseCache
from django.core.exceptions import ImproperlyConfigured
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


class RedisServers:
    """One ``redis.Redis`` per server, made on first use and shared by every call and
    thread (each over its own connection pool, which reconnects after a fork). Writes go to
    the first server; reads to one of the others where there are more (as Django's does)."""

    def __init__(self, servers: list[str], options: dict[str, Any]) -> None:
        if not servers or not all(servers):
            raise ImproperlyConfigured("The Redis cache's LOCATION names no server.")
        self.servers = servers
        self.options = options
        self._clients: dict[int, redis.Redis] = {}
        self._lock = threading.Lock()

    def get_client(self, key: Any = None, *, write: bool = False) -> redis.Redis:
        """The client for ``key`` (every key lives on every server: ``key`` is unused)."""
        index = 0 if write or len(self.servers) == 1 else random.randint(1, len(self.servers) - 1)
        client = self._clients.get(index)
        if client is None:
            with self._lock:
                client = self._clients.get(index)
                if client is None:
                    pool = redis.ConnectionPool.from_url(self.servers[index], **self.options)
                    client = self._clients[index] = redis.Redis(connection_pool=pool)
        return client


def _dumps(value: Any) -> Any:
    # Integers are kept as Redis integers (so INCRBY works on them); the rest is pickled.
    # type() rather than isinstance(): a bool is pickled, as Django's Redis cache does.
    if type(value) is int:
        return value
    return pickle.dumps(value, pickle.HIGHEST_PROTOCOL)


def _loads(data: Any) -> Any:
    try:
        return int(data)
    except ValueError:
        return pickle.loads(data)  # only what _dumps wrote: this cache is ours alone


class RedisCache(BaseCache):
    """A Django cache backend over redis-py's public API, stored as Django's own Redis
    cache stores it (keys made by ``make_and_validate_key``, integers raw, the rest pickled).

    ``OPTIONS`` go to ``redis.ConnectionPool.from_url`` (``socket_timeout``,
    ``socket_connect_timeout``, ``db``...), except ``breaker_seconds`` (the breaker's period).
    """

    def __init__(self, server: str | list[str], params: dict[str, Any]) -> None:
        super().__init__(params)
        servers = re.split("[;,]", server) if isinstance(server, str) else list(server)
        options = dict(params.get("OPTIONS") or {})
        breaker_seconds = float(options.pop("breaker_seconds", DEFAULT_BREAKER_SECONDS))
        self._cache = RedisServers(servers, options)
        self.breaker = CircuitBreaker(breaker_seconds)

    def _call(
        self, operation: str, call: Callable[[], Any], fallback: Any, *, raises: bool = False
    ) -> Any:
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

    def _client(self, *, write: bool = False) -> redis.Redis:
        return self._cache.get_client(write=write)

    def get_backend_timeout(self, timeout: Any = DEFAULT_TIMEOUT) -> int | None:
        """Seconds to keep a key: None keeps it for ever, 0 or less deletes it."""
        if timeout == DEFAULT_TIMEOUT:
            timeout = self.default_timeout
        return None if timeout is None else max(0, int(timeout))

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        key = self.make_and_validate_key(key, version=version)

        def read() -> Any:
            value = self._client().get(key)
            return default if value is None else _loads(value)

        return self._call("read", read, default)

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        names = {self.make_and_validate_key(key, version=version): key for key in keys}
        if not names:
            return {}

        def read() -> dict[Any, Any]:
            values = self._client().mget(list(names))
            return {
                names[name]: _loads(value)
                for name, value in zip(names, values, strict=True)
                if value is not None
            }

        return self._call("read", read, {})

    def has_key(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._call("read", lambda: bool(self._client().exists(key)), False)

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)

        def write() -> None:
            if seconds == 0:
                self._client(write=True).delete(key)
            else:
                self._client(write=True).set(key, _dumps(value), ex=seconds)

        self._call("write", write, None)

    def add(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> bool:
        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)

        def write() -> bool:
            client = self._client(write=True)
            if seconds == 0:  # added and expired at once: only say whether it would be
                added = bool(client.set(key, _dumps(value), nx=True))
                if added:
                    client.delete(key)
                return added
            return bool(client.set(key, _dumps(value), ex=seconds, nx=True))

        return self._call("write", write, False)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        if not data:
            return []
        safe = {self.make_and_validate_key(key, version=version): v for key, v in data.items()}
        seconds = self.get_backend_timeout(timeout)

        def write() -> list[Any]:
            client = self._client(write=True)
            if seconds == 0:
                client.delete(*safe)
                return []
            pipeline = client.pipeline()
            pipeline.mset({name: _dumps(value) for name, value in safe.items()})
            if seconds is not None:  # MSET takes no expiry: one EXPIRE per key
                for name in safe:
                    pipeline.expire(name, seconds)
            pipeline.execute()
            return []

        return self._call("write", write, list(data))

    def touch(self, key: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        seconds = self.get_backend_timeout(timeout)

        def write() -> bool:
            client = self._client(write=True)
            if seconds is None:
                return bool(client.persist(key))
            return bool(client.expire(key, seconds))

        return self._call("write", write, False)

    def delete(self, key: Any, version: int | None = None) -> bool:
        key = self.make_and_validate_key(key, version=version)
        return self._call(
            "delete", lambda: bool(self._client(write=True).delete(key)), False, raises=True
        )

    def delete_many(self, keys: Any, version: int | None = None) -> None:
        names = [self.make_and_validate_key(key, version=version) for key in keys]
        if names:
            self._call("delete", lambda: self._client(write=True).delete(*names), None, raises=True)

    def incr(self, key: Any, delta: int = 1, version: int | None = None) -> int:
        key = self.make_and_validate_key(key, version=version)

        def write() -> int:
            client = self._client(write=True)
            if not client.exists(key):
                raise ValueError(f"Key {key!r} not found.")
            return int(client.incr(key, delta))

        return self._call("write", write, 0, raises=True)

    def clear(self) -> None:
        self._call("delete", lambda: self._client(write=True).flushdb(), None, raises=True)
