"""Reads of the feedback app. ``projects_for_user`` is the one answer to "may this user
see this project?": the pages, the API and the admin all scope their querysets by it."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Q, QuerySet

from core.errors import NotFound
from feedback.models import Item, Judgement, Membership, Project

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


# Roles that may be handed items and judge them (staff may too).
ANNOTATING_ROLES: tuple[str, ...] = (Membership.Role.ANNOTATOR, Membership.Role.ADMIN)
# Roles that may see a project's dashboard and everyone's judgements in it.
MANAGING_ROLES: tuple[str, ...] = (Membership.Role.ADMIN,)
# Roles that may export a project's judgements and make dataset snapshots of them.
EXPORTING_ROLES: tuple[str, ...] = (Membership.Role.ADMIN, Membership.Role.EXPORTER)


def project_may_annotate(*, user: User, project: Project) -> bool:
    """Whether ``user`` may be handed items of ``project`` and judge them."""
    return projects_for_user(user=user, roles=ANNOTATING_ROLES).filter(pk=project.pk).exists()


def project_may_manage(*, user: User, project: Project) -> bool:
    """Whether ``user`` may see the dashboard and every judgement of ``project``."""
    return projects_for_user(user=user, roles=MANAGING_ROLES).filter(pk=project.pk).exists()


def item_get_for_user(*, user: User, project: Project, item_id: int) -> Item:
    """Item ``item_id`` of ``project`` if ``user`` may see that project; else NotFound."""
    item = (
        Item.objects.filter(project__in=projects_for_user(user=user).values("pk"))
        .filter(project=project, pk=item_id)
        .first()
    )
    if item is None:
        raise NotFound(f"No item {item_id} in project '{project.slug}'.")
    return item


def judgements_for_user(*, user: User, project: Project | None = None) -> QuerySet[Judgement]:
    """Judgements ``user`` may read: their own, plus every judgement of the projects they
    manage (staff: all). Current versions and history alike; filter ``is_current`` for
    the live ones."""
    if not user.is_authenticated:
        return Judgement.objects.none()
    own = Q(annotator_id=user.pk)
    if getattr(user, "is_staff", False):
        visible = Judgement.objects.all()
    else:
        managed = projects_for_user(user=user, roles=MANAGING_ROLES).values("pk")
        visible = Judgement.objects.filter(own | Q(item__project__in=managed))
    if project is not None:
        visible = visible.filter(item__project=project)
    return visible
