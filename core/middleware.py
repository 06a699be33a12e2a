"""Checks every request makes before any view runs.

``InputGuardMiddleware`` refuses a path, query string or page's form holding
text Postgres cannot store (a NUL character, a lone surrogate; see
``core.inputs.text_problem``): a username in a member URL or ``?external_id=%00`` is a
400 here instead of a database error in whichever view reads it. Under ``/api/`` the
answer has the API's error shape; pages get a plain 400.
"""

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

from core.inputs import text_problem


def _problem(request: HttpRequest) -> tuple[str, str] | None:
    if problem := text_problem(request.path):
        return "path", problem
    fields = [request.GET]
    # A page's form (a login, a rationale): the API's bodies are checked by its parsers.
    if (
        request.method == "POST"
        and not request.path_info.startswith("/api/")
        and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        fields.append(request.POST)
    for data in fields:
        for key, values in data.lists():
            if problem := text_problem(key):
                return "field name", problem
            for value in values:
                if problem := text_problem(value):
                    return key, problem
    return None


class InputGuardMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        found = _problem(request)
        if found is None:
            return self.get_response(request)
        field, reason = found
        if request.path_info.startswith("/api/"):
            body = {
                "error": {
                    "code": "invalid",
                    "message": f"{field}: {reason}",
                    "details": {field: [reason]},
                }
            }
            return JsonResponse(body, status=400)
        return HttpResponseBadRequest(f"{field}: {reason}", content_type="text/plain")
