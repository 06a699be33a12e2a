"""The one DRF exception handler: every error leaves the API as
``{"error": {"code", "message", "details"}}``."""

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView
from rest_framework.views import exception_handler as drf_exception_handler

from core.errors import ApplicationError
from core.tokens import token_issue, token_revoke


def error_body(code: str, message: str, details: Any = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details}}


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(error_body(exc.code, exc.message, exc.details), status=exc.status)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    assert isinstance(exc, exceptions.APIException)
    if isinstance(exc, exceptions.ValidationError):
        code, message, details = "invalid", "The request is not valid.", response.data
    else:
        detail = response.data.get("detail", "") if isinstance(response.data, dict) else ""
        codes = exc.get_codes()
        code = codes if isinstance(codes, str) else str(exc.default_code)
        message, details = str(detail) or str(exc.default_detail), None
    if response.status_code == status.HTTP_401_UNAUTHORIZED:
        code = "not_authenticated"
    response.data = error_body(str(code), message, details)
    return response


ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string", "description": "Stable, for clients to switch on."},
                "message": {"type": "string", "description": "For people."},
                "details": {
                    "nullable": True,
                    "description": "For 400: the fields (or rows) and the reasons.",
                },
            },
        }
    },
}

_ERROR_STATUSES = {
    "400": "Bad input: `details` names each field and the reason.",
    "401": "No credentials, or a wrong or revoked token.",
    "403": "Signed in, but this role may not do this.",
    "404": "No such object, or one in a project you are not a member of.",
    "405": "Method not allowed.",
    "409": "The request clashes with the current state.",
    "429": "Too many requests (API_THROTTLE_*); `Retry-After` says when to try again.",
}


def schema_add_error_responses(result: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """drf-spectacular post-processing hook: add the error shape, and every error status an
    endpoint can answer, to each operation of the schema."""
    components = result.setdefault("components", {}).setdefault("schemas", {})
    components["Error"] = ERROR_SCHEMA
    ref = {"$ref": "#/components/schemas/Error"}
    for path_item in result.get("paths", {}).values():
        for method, operation in path_item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            responses = operation.setdefault("responses", {})
            for status_code, description in _ERROR_STATUSES.items():
                responses.setdefault(
                    status_code,
                    {"description": description, "content": {"application/json": {"schema": ref}}},
                )
    return result


class TokenSerializer(serializers.Serializer[Any]):
    token = serializers.CharField(help_text="Send as 'Authorization: Token <token>'.")


class TokenView(APIView):
    """Your API token: POST issues a new one (the old one stops working), DELETE revokes."""

    @extend_schema(
        summary="Issue a new API token for yourself", request=None, responses={201: TokenSerializer}
    )
    def post(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        response = Response({"token": token_issue(user=user)}, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"  # a token must not be kept by any cache
        return response

    @extend_schema(summary="Revoke your API token", responses={204: None})
    def delete(self, request: Request) -> Response:
        user = request.user
        assert isinstance(user, User)
        token_revoke(user=user)
        return Response(status=status.HTTP_204_NO_CONTENT)
