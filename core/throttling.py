"""API throttling (DRF's), with rates read from settings at each request and the client
address from ``core.client_ip`` (``X-Forwarded-For`` only behind a trusted proxy).

- ``UserRateThrottle``: per signed-in user (``API_THROTTLE_USER``);
- ``AnonRateThrottle``: per address for requests without credentials (``API_THROTTLE_ANON``);
- ``FailedAuthentication``: per address, failed token authentications
  (``API_THROTTLE_FAILED_AUTH``); past the rate, even a right token waits (429), so
  guessing tokens is slow. Used by ``core.authentication.TokenAuthentication``.

A rate is ``N/second|minute|hour|day``; empty or ``off`` turns that throttle off.
"""

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework import throttling
from rest_framework.request import Request

from core.cache import UNREACHABLE
from core.client_ip import client_ip


def rate_of(name: str) -> str | None:
    rate = (getattr(settings, "API_THROTTLE_RATES", {}) or {}).get(name)
    if not rate or str(rate).lower() == "off":
        return None
    return str(rate)


class _FromSettings:
    scope: str

    def get_rate(self) -> str | None:
        return rate_of(self.scope)

    def get_ident(self, request: Request) -> str:
        return client_ip(request)

    def __init__(self) -> None:
        self.rate = self.get_rate()
        self.num_requests, self.duration = self.parse_rate(self.rate)  # type: ignore[attr-defined]

    def allow_request(self, request: Request, view: Any) -> bool:
        if self.rate is None:  # no rate configured: throttling is off for this scope
            return True
        return bool(super().allow_request(request, view))  # type: ignore[misc]


class UserRateThrottle(_FromSettings, throttling.UserRateThrottle):
    scope = "user"


class AnonRateThrottle(_FromSettings, throttling.AnonRateThrottle):
    scope = "anon"


def _parse_rate(rate: str | None) -> tuple[int | None, int | None]:
    """DRF's parse: ``N/s|m|h|d`` (the unit's first letter counts)."""
    if rate is None:
        return None, None
    number, period = rate.split("/")
    seconds = {"s": 1, "m": 60, "h": 3600, "d": 86400}[period[0]]
    return int(number), seconds


class FailedAuthentication:
    """Counts failed authentications per address in the shared cache (fails open)."""

    def __init__(self, request: Any) -> None:
        rate = rate_of("failed_auth")
        self.limit, self.window = _parse_rate(rate)
        self.key = f"throttle:failed-auth:{client_ip(request)}"

    def wait(self) -> float | None:
        """Seconds to wait before trying again, or None when allowed."""
        if self.limit is None or self.window is None:
            return None
        history = cache.get(self.key) or []
        now = time.time()
        recent = [t for t in history if t > now - self.window]
        if len(recent) < self.limit:
            return None
        return max(recent[0] + self.window - now, 1.0)

    def failed(self) -> None:
        if self.limit is None or self.window is None:
            return
        now = time.time()
        try:
            history = [t for t in (cache.get(self.key) or []) if t > now - self.window]
            cache.set(self.key, [*history, now][-self.limit :], self.window)
        except UNREACHABLE:
            pass
