"""A hung Redis slows the service, it does not stop it: calls are bounded by a short
timeout, and a circuit breaker stops calling a Redis that just timed out. Logging out
while Redis hangs ends the session, says so, and the session does not come back with
Redis. Each test freezes a redis-server of its own."""

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.core.cache import caches
from django.test import Client, override_settings

from core.cache import CacheUnreachable, RedisCache
from core.models import CacheDeletePending
from tests.core.own_redis import OwnRedis, own_redis

pytestmark = pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")


@pytest.fixture
def server(tmp_path: Path) -> Iterator[OwnRedis]:
    with own_redis(tmp_path) as started:
        yield started


def cache_on(server: OwnRedis, breaker: float = 1.0) -> dict[str, Any]:
    return {
        "BACKEND": "core.cache.RedisCache",
        "LOCATION": server.url,
        "KEY_PREFIX": "hang",
        "OPTIONS": {
            "socket_connect_timeout": 0.2,
            "socket_timeout": 0.2,
            "breaker_seconds": breaker,
        },
    }


def test_a_hung_redis_costs_one_timeout_then_the_breaker_skips_it(server: OwnRedis) -> None:
    with override_settings(CACHES={**settings.CACHES, "hang": cache_on(server, breaker=60)}):
        cache = caches["hang"]
        assert isinstance(cache, RedisCache)
        cache.set("k", "v")
        assert cache.get("k") == "v"
        with server.frozen():
            answers = [cache.get("k", "fallback") for _ in range(50)]
            cache.set("k", "other")  # a no-op while the breaker is open
            with pytest.raises(CacheUnreachable):
                cache.delete("k")
        assert answers == ["fallback"] * 50
        assert cache.breaker.trips == 1  # one call timed out; 49 never reached Redis
        assert cache.breaker.is_open
        cache.breaker.reset()
        assert cache.get("k") == "v"


def test_the_breaker_probes_again_after_its_period_and_closes(server: OwnRedis) -> None:
    with override_settings(CACHES={**settings.CACHES, "hang": cache_on(server, breaker=0.3)}):
        cache = caches["hang"]
        assert isinstance(cache, RedisCache)
        cache.set("k", "v")
        with server.frozen():
            assert cache.get("k") is None
        import time

        time.sleep(0.35)
        assert cache.get("k") == "v"  # the probe answered: closed
        assert not cache.breaker.is_open


@pytest.mark.django_db
def test_logging_out_while_redis_hangs_ends_the_session_and_it_does_not_come_back(
    server: OwnRedis,
) -> None:
    User.objects.create_user("ann", password="correct horse battery staple")
    with override_settings(CACHES={"default": cache_on(server)}, SESSION_ENGINE="core.sessions"):
        client = Client()
        client.post("/login/", {"username": "ann", "password": "correct horse battery staple"})
        assert client.get("/").status_code == 200
        session_key = client.cookies["sessionid"].value
        cached = [k for k in server.client().keys("*") if session_key.encode() in k]
        assert len(cached) == 1  # the session is in Redis

        with server.frozen():
            out = client.post("/logout/", follow=True)
        assert out.status_code == 200
        assert b"You are logged out" in out.content
        assert CacheDeletePending.objects.count() == 1

        # Redis is back with the stale copy; the old cookie does not log anyone in.
        assert server.client().exists(cached[0])
        stale = Client()
        stale.cookies["sessionid"] = session_key
        caches["default"].breaker.reset()  # type: ignore[attr-defined]
        home = stale.get("/")
        assert home.status_code == 302 and "/login/" in home["Location"]
        assert not server.client().exists(cached[0])  # deleted once Redis answered
        assert CacheDeletePending.objects.count() == 0
