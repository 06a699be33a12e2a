"""Reads of the feedback app. ``projects_for_user`` is the one answer to "may this user
see this project?": the pages, the API and the admin all scope their querysets by it."""

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Count, F, Func, Max, OuterRef, Q, QuerySet, Subquery, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from core.errors import NotFound
from feedback.access import ANNOTATING_ROLES as ANNOTATING_ROLES  # the sets live in access
from feedback.access import EXPORTING_ROLES as EXPORTING_ROLES
from feedback.access import MANAGING_ROLES as MANAGING_ROLES
from feedback.access import User as User
from feedback.models import Assignment, Item, Judgement, Membership, Project, Response, Round


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


_ANNOTATOR_CHECKED = "_feedback_checked_annotator_pk"


def project_get_for_annotator(*, user: User, slug: str) -> Project:
    """The project ``slug`` if ``user`` may annotate in it (else NotFound): the same answer
    as ``project_get_for_user(roles=ANNOTATING_ROLES)``, in one statement. The instance
    remembers it, so the services' own check costs no second query."""
    project = project_get_for_user(user=user, slug=slug, roles=ANNOTATING_ROLES)
    setattr(project, _ANNOTATOR_CHECKED, user.pk)
    return project


def project_may_annotate(*, user: User, project: Project) -> bool:
    """Whether ``user`` may be handed items of ``project`` and judge them."""
    if user.pk is not None and getattr(project, _ANNOTATOR_CHECKED, None) == user.pk:
        return True
    return projects_for_user(user=user, roles=ANNOTATING_ROLES).filter(pk=project.pk).exists()


def project_may_manage(*, user: User, project: Project) -> bool:
    """Whether ``user`` may see the dashboard and every judgement of ``project``."""
    return projects_for_user(user=user, roles=MANAGING_ROLES).filter(pk=project.pk).exists()


def item_get_for_user(*, user: User, project: Project, item_id: int) -> Item:
    """Item ``item_id`` of ``project`` if ``user`` may see that project; else NotFound."""
    if getattr(project, _ANNOTATOR_CHECKED, None) == user.pk and user.pk is not None:
        # ``project`` came from project_get_for_annotator for this user: already checked.
        item = Item.objects.filter(pk=item_id, project_id=project.pk).first()
    else:
        item = (
            Item.objects.filter(project__in=projects_for_user(user=user).values("pk"))
            .filter(project=project, pk=item_id)
            .first()
        )
    if item is None:
        raise NotFound(f"No item {item_id} in project '{project.slug}'.")
    item.project = project
    return item


def item_response_ids(*, item: Item) -> list[int]:
    """The ids of ``item``'s responses, in id order."""
    return list(
        Response.objects.filter(item_id=item.pk).order_by("id").values_list("id", flat=True)
    )


def round_response_ids(*, item: Item, number: int) -> list[int]:
    """The ids of the responses shown together in round ``number`` of ``item``, in id order.

    Round 1 of an item still in round 1 is every response it has (no row, no extra
    statement on the annotators' path); any other round was written down when it opened
    (feedback.services.rounds)."""
    if number == 1 and item.round == 1:
        return item_response_ids(item=item)
    ids = (
        Round.objects.filter(item_id=item.pk, number=number)
        .values_list("response_ids", flat=True)
        .first()
    )
    if ids is None:
        # Not opened (a round number from a client): it has no responses.
        return []
    return sorted(int(pk) for pk in ids)


@dataclass(frozen=True)
class ResponseText:
    content: str
    html: str  # rendered earlier, or ""; valid only while ``html_key`` matches
    html_key: str


def item_response_texts(
    *, item: Item, ids: Collection[int] | None = None
) -> dict[int, ResponseText]:
    """``item``'s responses' texts by id, in id order (no model names: the page is blind),
    with their stored renderings; only those of ``ids`` when given."""
    rows = (
        Response.objects.filter(item_id=item.pk)
        .order_by("id")
        .values_list("id", "content", "content_html", "content_html_key")
    )
    return {
        pk: ResponseText(content, html, key)
        for pk, content, html, key in rows
        if ids is None or pk in ids
    }


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


def project_rankable_judgements(*, project: Project) -> QuerySet[Judgement]:
    """The judgements the project's figures are computed from (agreement, reliability,
    the leaderboard): the current version of each, not flagged as not rankable. The one
    place that says which judgements count; ``project_judgement_state`` follows it."""
    return Judgement.objects.filter(item__project=project, is_current=True, not_rankable=False)


def project_judgement_state(*, project: Project) -> str:
    """A stamp of the judgements ``project_rankable_judgements`` gives: it changes whenever
    one is written, edited (a new version), rejected or otherwise leaves or joins that set.
    One aggregate over the project's judgements (count, highest id, sum of ids, latest
    time); the project's creation time tells apart two databases that reused its id.
    Figures cached under it (``feedback.quality.agreement``, ``feedback.leaderboard``)
    are recomputed after any change and never served stale."""
    state = project_rankable_judgements(project=project).aggregate(
        n=Count("id"), top=Max("id"), total=Sum("id"), latest=Max("created_at")
    )
    latest = state["latest"].timestamp() if state["latest"] else 0
    born = project.created_at.timestamp() if project.created_at else 0
    return f"{project.pk}:{born:.6f}:{state['n']}:{state['top']}:{state['total']}:{latest:.6f}"


@dataclass(frozen=True)
class ProjectProgress:
    project: Project
    items_total: int
    items_complete: int
    mine_total: int
    mine_today: int


def project_progress_for_user(*, user: User, now: datetime | None = None) -> list[ProjectProgress]:
    """The projects ``user`` may annotate with how far along each is, and their own share."""
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    # Gold items are checks, not work: they count towards no project's completion.
    items = Item.objects.filter(project=OuterRef("pk"), is_gold=False).order_by().values("project")
    count = Func(F("pk"), function="COUNT")
    mine = Judgement.objects.filter(
        item__project=OuterRef("pk"), annotator_id=user.pk, is_current=True
    ).order_by()
    projects = projects_for_user(user=user, roles=ANNOTATING_ROLES).annotate(
        items_total=Subquery(items.annotate(n=count).values("n")),
        items_complete=Subquery(
            items.filter(judgement_count__gte=OuterRef("overlap")).annotate(n=count).values("n")
        ),
        mine_total=Subquery(mine.values("annotator").annotate(n=count).values("n")),
        mine_today=Subquery(
            mine.filter(created_at__gte=today).values("annotator").annotate(n=count).values("n")
        ),
    )
    return [
        ProjectProgress(
            project=p,
            items_total=p.items_total or 0,
            items_complete=p.items_complete or 0,
            mine_total=p.mine_total or 0,
            mine_today=p.mine_today or 0,
        )
        for p in projects
    ]


@dataclass(frozen=True)
class ProjectDashboard:
    items_waiting: int
    items_in_progress: int
    items_complete: int
    # (annotator username, day, judgements made that day), newest day first
    per_annotator_day: list[tuple[str, date, int]]
    leases_live: list[Assignment]
    skips: int


def project_dashboard(
    *, project: Project, days: int = 14, now: datetime | None = None
) -> ProjectDashboard:
    """Where a project stands: items by state, who judged how much each day, live leases."""
    now = now or timezone.now()
    items = Item.objects.filter(project=project, is_gold=False)  # gold is not work to do
    live = Assignment.objects.filter(
        item__project=project, status=Assignment.Status.ACTIVE, expires_at__gt=now
    )
    complete = items.filter(judgement_count__gte=project.overlap).count()
    started = (
        items.filter(judgement_count__lt=project.overlap)
        .filter(Q(judgement_count__gt=0) | Q(pk__in=live.values("item_id")))
        .count()
    )
    total = items.count()
    since = now - timedelta(days=days)
    per_day = (
        Judgement.objects.filter(
            item__project=project, source=Judgement.Source.HUMAN, created_at__gte=since
        )
        .annotate(day=TruncDate("created_at"))
        .values_list("annotator__username", "day")
        .annotate(n=Count("pk"))
        .order_by("-day", "annotator__username")
    )
    return ProjectDashboard(
        items_waiting=total - complete - started,
        items_in_progress=started,
        items_complete=complete,
        per_annotator_day=[(name, day, n) for name, day, n in per_day],
        leases_live=list(live.select_related("annotator", "item").order_by("expires_at")[:200]),
        skips=Assignment.objects.filter(
            item__project=project, status=Assignment.Status.SKIPPED
        ).count(),
    )


@dataclass(frozen=True)
class AnnotatorPosition:
    """Where an annotator stands in a project: "item ``position`` of ``total``"."""

    total: int  # items with something to judge (two responses or more)
    done: int  # items they judged (current judgements)
    today: int  # of those, judged since midnight
    skipped: int

    @property
    def position(self) -> int:
        return min(self.total, self.done + 1)


def annotator_position(
    *, user: User, project: Project, now: datetime | None = None
) -> AnnotatorPosition:
    now = now or timezone.now()
    today = timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)
    total = (
        Item.objects.filter(project=project).annotate(n=Count("responses")).filter(n__gte=2).count()
    )
    mine = Judgement.objects.filter(item__project=project, annotator_id=user.pk, is_current=True)
    counts = mine.aggregate(done=Count("pk"), today=Count("pk", filter=Q(created_at__gte=today)))
    skipped = Assignment.objects.filter(
        item__project=project, annotator_id=user.pk, status=Assignment.Status.SKIPPED
    ).count()
    return AnnotatorPosition(
        total=total, done=counts["done"] or 0, today=counts["today"] or 0, skipped=skipped
    )
