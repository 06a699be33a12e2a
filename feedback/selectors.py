"""Reads of the feedback app. ``projects_for_user`` is the one answer to "may this user
see this project?": the pages, the API and the admin all scope their querysets by it."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from core.errors import NotFound
from feedback.models import Membership, Project

User = AbstractBaseUser | AnonymousUser


def projects_for_user(*, user: User, roles: tuple[str, ...] | None = None) -> QuerySet[Project]:
    """Projects ``user`` may see: every project for staff, else those they are a member of
    (with one of ``roles`` when given)."""
    if not user.is_authenticated:
        return Project.objects.none()
    if getattr(user, "is_staff", False):
        return Project.objects.all()
    memberships = Membership.objects.filter(user_id=user.pk)
    if roles is not None:
        memberships = memberships.filter(role__in=roles)
    return Project.objects.filter(pk__in=memberships.values("project_id"))


def project_get_for_user(*, user: User, slug: str, roles: tuple[str, ...] | None = None) -> Project:
    """The project ``slug`` if ``user`` may see it (with one of ``roles``); otherwise NotFound,
    so that a project one is not in is indistinguishable from one that does not exist."""
    project = projects_for_user(user=user, roles=roles).filter(slug=slug).first()
    if project is None:
        raise NotFound(f"No project '{slug}'.")
    return project


def project_get(*, slug: str) -> Project:
    """The project ``slug`` with no user scoping: for operators' management commands only."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise NotFound(f"No project '{slug}'.")
    return project
