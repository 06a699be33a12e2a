"""Pages that every app shares: the API token page."""

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods
from django.views.defaults import page_not_found

from core.api import error_body
from core.tokens import token_exists, token_issue, token_revoke


@never_cache  # Cache-Control: no-store (and no-cache, private): the page shows a token
@login_required
@require_http_methods(["GET", "POST"])
def token_page(request: HttpRequest) -> HttpResponse:
    """Show whether the user has an API token; issue (rotate) or revoke it.

    A new token is shown once, in the answer to the POST that made it, and never again.
    """
    user = request.user
    assert isinstance(user, User)
    new_token = None
    if request.method == "POST":
        if request.POST.get("action") == "revoke":
            token_revoke(user=user)
            messages.success(request, "Your API token was revoked.")
            return redirect("api-token-page")
        new_token = token_issue(user=user)
    return render(
        request,
        "core/token.html",
        {"has_token": token_exists(user=user), "new_token": new_token},
    )


def favicon(request: HttpRequest) -> HttpResponse:
    """``/favicon.ico``, which browsers ask for on pages that name no icon (the admin, the API
    browser): a redirect to the static SVG, looked up per request (its name carries a hash)."""
    return redirect(static("favicon.svg"))


def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """Django's 404 handler: our JSON error shape under /api/, the usual page elsewhere.

    The API's own catch-all route answers unknown paths; this covers a 404 raised before any
    API view runs (a path Django cannot route, seen in the fuzz with control characters)."""
    if request.path.startswith("/api/"):
        return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
    return page_not_found(request, exception or Exception("not found"))
