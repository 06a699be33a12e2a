"""The project-access door (``feedback.access.project_access``) for pages: an outsider
gets Django's 404 page, a member without the role its 403 page."""

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest

from core.errors import NotFound, PermissionDenied
from feedback.access import ProjectAccess, Roles, project_access


def page_access(
    request: HttpRequest, slug: str, roles: Roles | None = None, denied: str | None = None
) -> ProjectAccess:
    try:
        return project_access(user=request.user, slug=slug, roles=roles, denied=denied)
    except NotFound as error:
        raise Http404(error.message) from error
    except PermissionDenied as error:
        raise DjangoPermissionDenied(error.message) from error
