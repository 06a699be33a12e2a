"""What every view of the feedback and training APIs shares: the project door as a base
class (``ProjectView``), the signed-in user, query-parameter parsing and the paginators."""

from collections.abc import Iterable

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from rest_framework.request import Request

from core.endpoints import ProjectEndpoint, Roles
from core.inputs import param_bool, param_choice, param_int, param_text
from core.pagination import IdCursorPagination
from feedback.access import project_access
from feedback.models import Project


def request_user(request: Request) -> User:
    """The signed-in user (the default IsAuthenticated permission ran first)."""
    user = request.user
    assert isinstance(user, User)
    return user


# The base of every API view under /api/projects/<slug>/: ``self.project`` and ``self.role``
# are resolved once, by ``feedback.access.project_access``, before the handler runs (404 for
# outsiders, 403 for members without the method's roles). A comment, not a docstring: the
# OpenAPI schema would show a docstring on every operation of every subclass.
class ProjectView(ProjectEndpoint[Project]):
    def resolve(
        self, user: AbstractBaseUser | AnonymousUser, slug: str, roles: Roles | None
    ) -> tuple[Project, str]:
        access = project_access(user=user, slug=slug, roles=roles, denied=self.denied_message)
        return access.project, access.role

    @property
    def user(self) -> User:
        return request_user(self.request)


def int_param(request: Request, name: str) -> int | None:
    """A positive 64-bit whole number (``core.inputs.param_int``), or None when absent."""
    return param_int(request.query_params, name)


def bool_param(request: Request, name: str) -> bool | None:
    return param_bool(request.query_params, name)


def text_param(request: Request, name: str, *, max_length: int = 255) -> str | None:
    """A text filter, checked (no NUL or lone surrogate) and bounded in length."""
    return param_text(request.query_params, name, max_length=max_length)


def choice_param(request: Request, name: str, choices: Iterable[str]) -> str | None:
    """A filter that must be one of ``choices``: never passed raw to the database."""
    return param_choice(request.query_params, name, choices)


# The one cursor decoder (core.pagination): a forged cursor is a 400 naming ``cursor``.
class ById(IdCursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class NewestFirst(IdCursorPagination):
    ordering = "-id"
    page_size = 50
