"""The one door to a project: "may this user do this in this project?".

``project_access`` answers it for the API (through ``feedback.api.base.ProjectView``), the
pages and the training app: the project ``slug`` and the user's role in it, resolved
once. Someone who is not in the project (or not signed in) gets NotFound, so a project
one is not in is indistinguishable from one that does not exist; a member whose role is
not among the asked ``roles`` gets PermissionDenied. Staff may do everything, with the
role ``"staff"``.

The role sets are listed here once; every other module takes them from here.
"""

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import OuterRef, Subquery

from core.errors import NotFound, PermissionDenied
from feedback.models import Membership, Project

User = AbstractBaseUser | AnonymousUser

Roles = tuple[str, ...]

STAFF = "staff"

# Roles that may be handed items and judge them (staff may too).
ANNOTATING_ROLES: Roles = (Membership.Role.ANNOTATOR, Membership.Role.ADMIN)
# Roles that may change a project, its members and items, see its dashboard and everyone's
# judgements in it, and manage its training.
MANAGING_ROLES: Roles = (Membership.Role.ADMIN,)
# Roles that may export a project's judgements and make dataset snapshots of them.
EXPORTING_ROLES: Roles = (Membership.Role.ADMIN, Membership.Role.EXPORTER)


@dataclass(frozen=True)
class ProjectAccess:
    project: Project
    role: str  # a Membership.Role value, or STAFF

    def allows(self, roles: Roles | None) -> bool:
        """Whether this role may do what needs one of ``roles`` (None: any member)."""
        return roles is None or self.role == STAFF or self.role in roles


def role_denied(slug: str, roles: Roles, message: str | None = None) -> PermissionDenied:
    return PermissionDenied(
        message or f"Your role in '{slug}' may not do this (needs {' or '.join(roles)}).",
        details={"roles": list(roles)},
    )


def project_access(
    *, user: User, slug: str, roles: Roles | None = None, denied: str | None = None
) -> ProjectAccess:
    """The project ``slug`` and ``user``'s role in it, in one query.

    NotFound unless ``user`` is staff or a member; PermissionDenied (with ``denied`` as
    its message when given) for a member whose role is not one of ``roles``."""
    if not user.is_authenticated:
        raise NotFound(f"No project '{slug}'.")
    projects = Project.objects.filter(slug=slug)
    if getattr(user, "is_staff", False):
        project = projects.first()
        role = STAFF
    else:
        member_role = Membership.objects.filter(project=OuterRef("pk"), user_id=user.pk)
        project = (
            projects.annotate(member_role=Subquery(member_role.values("role")[:1]))
            .filter(member_role__isnull=False)
            .first()
        )
        role = getattr(project, "member_role", "")
    if project is None:
        raise NotFound(f"No project '{slug}'.")
    access = ProjectAccess(project=project, role=role)
    if not access.allows(roles):
        assert roles is not None
        raise role_denied(slug, roles, denied)
    return access
