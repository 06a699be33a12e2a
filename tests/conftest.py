"""Shared fixtures. Tests run against the real Postgres and Redis that `make test` starts."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from django.test import override_settings

SHARED_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data"


@pytest.fixture
def shared_data() -> Path:
    """The real preference files beside the checkout; tests skip where they are absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real preference data not found at {SHARED_DATA}")
    return SHARED_DATA


@pytest.fixture(autouse=True)
def api_throttles_off() -> Iterator[None]:
    """The suite makes thousands of API requests from one address (and many with wrong
    tokens on purpose): throttling is off except where a test turns it on."""
    with override_settings(API_THROTTLE_RATES={"user": None, "anon": None, "failed_auth": None}):
        yield
