"""core.cache: Django's Redis cache against the real Redis, one client per pool."""

import threading
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client, override_settings
from redis.exceptions import ConnectionError as RedisConnectionError

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


UNREACHABLE = {
    "BACKEND": "core.cache.RedisCache",
    "LOCATION": "redis://127.0.0.1:1/0",  # nothing listens on port 1: refused at once
    "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
}


def test_an_unreachable_redis_turns_reads_into_misses_and_writes_into_no_ops() -> None:
    with override_settings(CACHES={**settings.CACHES, "down": UNREACHABLE}):
        cache = caches["down"]
        assert cache.get("k", "fallback") == "fallback"
        assert cache.get_many(["k", "l"]) == {}
        assert not cache.has_key("k")
        cache.set("k", 1)
        cache.set_many({"k": 1})
        with pytest.raises(RedisConnectionError):
            cache.delete("k")  # a logout must not pass silently


@pytest.mark.django_db
def test_pages_still_work_with_sessions_in_an_unreachable_cache() -> None:
    user = User.objects.create_user("ann", password="correct horse battery staple")
    with override_settings(
        CACHES={"default": UNREACHABLE},
        SESSION_ENGINE="core.sessions",
    ):
        client = Client()
        logged_in = client.post(
            "/login/", {"username": "ann", "password": "correct horse battery staple"}
        )
        assert logged_in.status_code == 302
        home = client.get("/")
        assert home.status_code == 200 and home.context["user"] == user


def test_values_are_stored_as_djangos_own_redis_cache_stores_them(
    redis_cache: RedisCache,
) -> None:
    """Either backend reads what the other wrote (a deploy that switches keeps the cache),
    and an integer stays a Redis integer that INCR works on."""
    named = {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": settings.CACHES["default"]["LOCATION"],
        "KEY_PREFIX": "t",
    }
    with override_settings(CACHES={**settings.CACHES, "django": named}):
        django_cache = caches["django"]
        redis_cache.set_many({"a": {"x": [1, 2]}, "n": 41})
        django_cache.set("b", ("t", True))
        assert django_cache.get_many(["a", "n"]) == {"a": {"x": [1, 2]}, "n": 41}
        assert redis_cache.get("b") == ("t", True)
        assert django_cache.incr("n") == 42 and redis_cache.incr("n") == 43


def test_timeouts_keep_expire_or_delete_as_djangos_cache_does(redis_cache: RedisCache) -> None:
    client = redis_cache._cache.get_client(write=True)
    redis_cache.set("a", "kept", timeout=None)
    redis_cache.set("b", "soon", timeout=30)
    assert client.ttl(redis_cache.make_key("a")) == -1
    assert 0 < client.ttl(redis_cache.make_key("b")) <= 30
    redis_cache.set("b", "gone", timeout=0)
    assert redis_cache.get("b", "missing") == "missing"
    assert not redis_cache.add("a", "other") and redis_cache.get("a") == "kept"
    assert redis_cache.touch("a", 10) and 0 < client.ttl(redis_cache.make_key("a")) <= 10
    with pytest.raises(ValueError, match="not found"):
        redis_cache.incr("b")
