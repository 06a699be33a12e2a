"""core.cache: Django's Redis cache against the real Redis, one client per pool."""

import threading
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.core.cache import caches
from django.test import override_settings

from core.cache import RedisCache


@pytest.fixture
def redis_cache() -> Iterator[RedisCache]:
    default = settings.CACHES["default"]
    if default["BACKEND"] != "core.cache.RedisCache":
        pytest.skip("CACHE_URL names no Redis (make test sets one)")
    named = {"BACKEND": "core.cache.RedisCache", "LOCATION": default["LOCATION"], "KEY_PREFIX": "t"}
    with override_settings(CACHES={**settings.CACHES, "t": named}):
        cache = caches["t"]
        assert isinstance(cache, RedisCache)
        yield cache
        cache.delete_many(["a", "b", "n"])


def test_one_client_serves_every_call_and_every_thread(redis_cache: RedisCache) -> None:
    client = redis_cache._cache.get_client(write=True)
    redis_cache.set_many({"a": 1, "b": [2]})
    assert redis_cache.get_many(["a", "b", "missing"]) == {"a": 1, "b": [2]}
    redis_cache.set("n", 0)

    def bump() -> None:
        for _ in range(50):
            redis_cache.incr("n")

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert redis_cache.get("n") == 200
    assert redis_cache._cache.get_client(write=True) is client
