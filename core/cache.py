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
  in the cache to come back with Redis.
"""

import logging
from typing import Any

from django.core.cache.backends import redis as django_redis
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

logger = logging.getLogger(__name__)

UNREACHABLE = (RedisConnectionError, RedisTimeoutError)


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
        super().__init__(server, params)
        self._class = RedisCacheClient

    def _unreachable(self, operation: str, error: Exception) -> None:
        logger.warning("cache %s failed, carrying on without the cache: %s", operation, error)

    def get(self, key: Any, default: Any = None, version: int | None = None) -> Any:
        try:
            return super().get(key, default, version)
        except UNREACHABLE as error:
            self._unreachable("read", error)
            return default

    def get_many(self, keys: Any, version: int | None = None) -> dict[Any, Any]:
        try:
            return super().get_many(keys, version)
        except UNREACHABLE as error:
            self._unreachable("read", error)
            return {}

    def has_key(self, key: Any, version: int | None = None) -> bool:
        try:
            return super().has_key(key, version)
        except UNREACHABLE as error:
            self._unreachable("read", error)
            return False

    def set(
        self, key: Any, value: Any, timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> None:
        try:
            super().set(key, value, timeout, version)
        except UNREACHABLE as error:
            self._unreachable("write", error)

    def set_many(
        self, data: dict[Any, Any], timeout: Any = DEFAULT_TIMEOUT, version: int | None = None
    ) -> list[Any]:
        try:
            return super().set_many(data, timeout, version)
        except UNREACHABLE as error:
            self._unreachable("write", error)
            return list(data)
