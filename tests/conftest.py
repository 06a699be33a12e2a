"""Shared fixtures. Tests run against the real Postgres and Redis that `make test` starts."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

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


@pytest.fixture(autouse=True)
def fast_passwords(settings: Any) -> None:
    """Test users are made by the dozen: hash their passwords cheaply, in every test."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
