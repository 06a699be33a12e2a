"""The one navigation bar: what a page's top bar links to, for the person looking at it.

A context processor, evaluated lazily: a template that never reads ``nav`` (the item
fragments the workspace swaps in) costs no query. Pages of other apps are linked by URL
name only (``feedback`` never imports ``training``), and a page that does not exist in
this build (a name that does not resolve) is simply left out of the bar.
"""

from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django.urls import NoReverseMatch, reverse
from django.utils.functional import SimpleLazyObject

from core.errors import NotFound, PermissionDenied
from feedback.access import STAFF, project_access
from feedback.models import Membership, Project

# Project pages other modules may add, by URL name (taking the project's slug), with the
# label they get in the project bar; the first that resolves of each group is linked.
OPTIONAL_PROJECT_PAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Review", ("review", "feedback-review", "project-review")),
    ("Agreement", ("agreement", "feedback-agreement", "project-agreement")),
    ("Leaderboard", ("leaderboard", "training-leaderboard", "project-leaderboard")),
)
OPTIONAL_GLOBAL_PAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("Leaderboard", ("training-leaderboard-all", "leaderboard-all")),
)


@dataclass
class Link:
    label: str
    url: str
    key: str  # what `active` compares with


@dataclass
class Navigation:
    main: list[Link] = field(default_factory=list)
    training: list[Link] = field(default_factory=list)
    project: Project | None = None
    project_links: list[Link] = field(default_factory=list)
    active: str = ""
    manages_any: bool = False


def _reverse(name: str, *args: Any) -> str | None:
    try:
        return reverse(name, args=args)
    except NoReverseMatch:
        return None


def _first(names: tuple[str, ...], *args: Any) -> str | None:
    for name in names:
        url = _reverse(name, *args)
        if url:
            return url
    return None


def _role(user: AbstractBaseUser | AnonymousUser, slug: str) -> tuple[Project | None, str | None]:
    """The project and the user's role in it, through the one door (None when not in it)."""
    try:
        access = project_access(user=user, slug=slug)
    except (NotFound, PermissionDenied):
        return None, None
    return access.project, access.role


def navigation_build(request: HttpRequest) -> Navigation:
    """The bar for ``request.user`` on the page ``request`` is for."""
    user = request.user
    nav = Navigation()
    if not user.is_authenticated:
        return nav
    match = request.resolver_match
    nav.active = match.url_name or "" if match else ""
    roles = set(Membership.objects.filter(user_id=user.pk).values_list("role", flat=True))
    staff = bool(getattr(user, "is_staff", False))
    manages = staff or Membership.Role.ADMIN in roles
    trains = manages  # training is for project admins (training_projects_for_user)
    nav.manages_any = manages
    slug = match.kwargs.get("slug") if match else None
    role: str | None = None
    if isinstance(slug, str):
        nav.project, role = _role(user, slug)

    nav.main.append(Link("Projects", reverse("home"), "home"))
    if manages:
        nav.main.append(Link("Manage", reverse("projects-manage"), "projects-manage"))
        dashboard_project = nav.project if role in (STAFF, Membership.Role.ADMIN) else None
        if dashboard_project is None:
            managed = (
                Project.objects.all()
                if staff
                else Project.objects.filter(
                    memberships__user_id=user.pk, memberships__role=Membership.Role.ADMIN
                )
            )
            dashboard_project = managed.order_by("name").first()
        if dashboard_project is not None:
            nav.main.append(
                Link("Dashboard", reverse("dashboard", args=[dashboard_project.slug]), "dashboard")
            )
            review = _first(OPTIONAL_PROJECT_PAGES[0][1], dashboard_project.slug)
            if review:
                nav.main.append(Link("Review", review, "review"))
    if trains:
        for label, name in (
            ("Jobs", "training-jobs"),
            ("New job", "training-job-new"),
            ("Models", "training-models"),
        ):
            url = _reverse(name)
            if url:
                nav.training.append(Link(label, url, name))
        for label, names in OPTIONAL_GLOBAL_PAGES:
            url = _first(names)
            if url:
                nav.training.append(Link(label, url, names[0]))
    nav.main.append(Link("API docs", reverse("api-docs"), "api-docs"))
    nav.main.append(Link("Token", reverse("api-token-page"), "api-token-page"))

    if nav.project is not None:
        p = nav.project.slug
        links = [
            Link("Annotate", reverse("annotate", args=[p]), "annotate"),
            Link("My judgements", reverse("judgements", args=[p]), "judgements"),
        ]
        if role in (STAFF, Membership.Role.ADMIN):
            links += [
                Link("Dashboard", reverse("dashboard", args=[p]), "dashboard"),
                Link("Settings", reverse("project-settings", args=[p]), "project-settings"),
                Link("Members", reverse("project-members", args=[p]), "project-members"),
                Link("Import", reverse("project-import", args=[p]), "project-import"),
            ]
            retrain = _reverse("training-retrain-policy", p)
            if retrain:
                links.append(Link("Retraining", retrain, "training-retrain-policy"))
        if role in (STAFF, Membership.Role.ADMIN, Membership.Role.EXPORTER):
            links.append(Link("Export", reverse("project-export", args=[p]), "project-export"))
        if role in (STAFF, Membership.Role.ADMIN):
            for label, names in OPTIONAL_PROJECT_PAGES:
                url = _first(names, p)
                if url:
                    links.append(Link(label, url, names[0]))
        nav.project_links = links
    return nav


def navigation(request: HttpRequest) -> dict[str, Any]:
    """Context processor: ``nav``, built on first use."""
    return {"nav": SimpleLazyObject(lambda: navigation_build(request))}
