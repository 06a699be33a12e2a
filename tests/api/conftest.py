"""The API tests here use the world of tests/feedback/api."""

from tests.feedback.api.conftest import world

__all__ = ["world"]
