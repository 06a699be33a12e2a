"""Token authentication with a per-address limit on failures (``core.throttling``)."""

from typing import Any

from rest_framework import authentication, exceptions
from rest_framework.request import Request

from core.throttling import FailedAuthentication


class TokenAuthentication(authentication.TokenAuthentication):
    def authenticate(self, request: Request) -> Any:
        if not authentication.get_authorization_header(request):
            return None
        failures = FailedAuthentication(request)
        wait = failures.wait()
        if wait is not None:
            raise exceptions.Throttled(
                wait=wait, detail="Too many failed authentications from your address."
            )
        try:
            return super().authenticate(request)
        except exceptions.AuthenticationFailed:
            failures.failed()
            raise
