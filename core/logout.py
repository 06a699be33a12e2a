"""The logout page: Django's, saying so when the session cache could not be reached."""

from typing import Any

from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse


class LogoutView(auth_views.LogoutView):
    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        session = request.session
        response = super().post(request, *args, **kwargs)
        if getattr(session, "ended_without_cache", False):
            messages.warning(
                request,
                "You are logged out. The session cache did not answer, so your session was "
                "ended in the database; its cached copy is removed as soon as the cache is back.",
            )
        return response
