"""The base class of every API view under a project (Sentry's ``ProjectEndpoint`` is the
model): it resolves the project and the caller's role once per request, before the
handler runs, so a handler starts from ``self.project`` and ``self.role``.

``core`` imports no app, so the class knows nothing of projects' models: a subclass names
the door (``resolve``) that answers "may this user do this in this project?" -- the
feedback app's ``feedback.api.base.ProjectView`` is the one every project view uses.
Which roles a method needs is said on the view: ``roles`` for every method, or
``method_roles`` per method (``None``: any member)."""

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from rest_framework.request import Request
from rest_framework.views import APIView

P = TypeVar("P")

Roles = tuple[str, ...]


class ProjectEndpoint(APIView, Generic[P]):  # no docstring: the schema would show it
    # The URL keyword that names the project.
    project_kwarg: ClassVar[str] = "slug"
    # Roles every method needs (None: any member of the project, and staff).
    roles: ClassVar[Roles | None] = None
    # Per HTTP method ("GET", "POST", ...), overriding ``roles``.
    method_roles: ClassVar[Mapping[str, Roles | None]] = {}
    # The 403 message for a member without the role (None: the door's own).
    denied_message: ClassVar[str | None] = None

    project: P
    role: str

    def resolve(
        self, user: AbstractBaseUser | AnonymousUser, slug: str, roles: Roles | None
    ) -> tuple[P, str]:
        """The project and the user's role in it; raises NotFound or PermissionDenied."""
        raise NotImplementedError

    def roles_for(self, method: str) -> Roles | None:
        return self.method_roles.get(method.upper(), self.roles)

    def initial(self, request: Request, *args: Any, **kwargs: Any) -> None:
        super().initial(request, *args, **kwargs)  # authentication, permissions, throttles
        method = (request.method or "GET").lower()
        if method not in self.http_method_names or not hasattr(self, method):
            return  # dispatch answers 405, as for any view
        slug = kwargs[self.project_kwarg]
        self.project, self.role = self.resolve(request.user, slug, self.roles_for(method))
