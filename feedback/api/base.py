"""What every view of the feedback and training APIs shares: the project door as a base
class (``ProjectView``), the signed-in user, query-parameter parsing and the paginators."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser, User
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

from core.endpoints import ProjectEndpoint, Roles
from core.errors import ValidationError
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
    raw = request.query_params.get(name)
    if raw in (None, ""):
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValidationError(
            f"{name}: must be a whole number", details={name: ["must be a whole number"]}
        ) from None
    if not 0 < value < 2**63:
        raise ValidationError(f"{name}: out of range", details={name: ["out of range"]})
    return value


def bool_param(request: Request, name: str) -> bool | None:
    raw = (request.query_params.get(name) or "").lower()
    if raw == "":
        return None
    if raw in ("true", "1", "yes"):
        return True
    if raw in ("false", "0", "no"):
        return False
    raise ValidationError(
        f"{name}: must be true or false", details={name: ["must be true or false"]}
    )


class ById(CursorPagination):
    ordering = "id"
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000


class NewestFirst(CursorPagination):
    ordering = "-id"
    page_size = 50
