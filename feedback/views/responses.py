"""JSON answers for the workspace script: the same error shape as the API."""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse

from core.errors import ApplicationError, ValidationError
from core.inputs import InputError, json_parse

JsonView = Callable[..., HttpResponse]


def json_error(error: ApplicationError) -> JsonResponse:
    return JsonResponse({"error": error.as_dict()}, status=error.status)


def json_view(view: JsonView) -> JsonView:
    """Turn application errors raised by ``view`` into ``{"error": {...}}`` answers."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return JsonResponse(
                {"error": {"code": "not_authenticated", "message": "Log in.", "details": None}},
                status=401,
            )
        try:
            return view(request, *args, **kwargs)
        except ApplicationError as error:
            return json_error(error)

    return wrapper


def json_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or ValidationError."""
    try:
        data = json_parse(request.body or b"{}")
    except InputError as exc:
        raise exc.as_validation_error("body") from None
    if not isinstance(data, dict):
        raise ValidationError(
            "The body must be a JSON object.", details={"body": ["must be an object"]}
        )
    return data
