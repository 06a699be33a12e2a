"""The annotator's pages and the JSON endpoints their script calls."""

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound, PermissionDenied, ValidationError
from feedback.api.judgement_input import judgement_input_submit, judgement_input_validate
from feedback.models import Assignment, Item, Project
from feedback.rendering import markdown_render
from feedback.selectors import (
    MANAGING_ROLES,
    annotator_position,
    item_get_for_user,
    judgements_for_user,
    project_get_for_annotator,
    project_may_manage,
    project_progress_for_user,
    projects_for_user,
)
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.gold import GOLD_STOP_CODE
from feedback.services.reopen import assignment_reopen
from feedback.views.presentation import item_view_build, judgement_rows, ranking_text
from feedback.views.responses import json_body, json_view

RECENT_JUDGEMENTS = 50


def _user(request: HttpRequest) -> User:
    """The logged-in user (every view here is behind login_required or json_view)."""
    return cast(User, request.user)


def _project_page(request: HttpRequest, slug: str) -> Project:
    try:
        return project_get_for_annotator(user=_user(request), slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error


def _text(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ValidationError(f"{key}: must be text", details={key: ["must be text"]})
    return value


def _flag(data: dict[str, Any], key: str) -> bool:
    value = data.get(key, False)
    if not isinstance(value, bool):
        raise ValidationError(f"{key}: must be true or false", details={key: ["must be a boolean"]})
    return value


@login_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = _user(request)
    progress = project_progress_for_user(user=user)
    managed = set(projects_for_user(user=user, roles=MANAGING_ROLES).values_list("pk", flat=True))
    return render(request, "feedback/home.html", {"progress": progress, "managed": managed})


@login_required
@require_GET
def annotate(request: HttpRequest, slug: str) -> HttpResponse:
    """The item page: the annotator's current lease, or a new one."""
    project, user = _project_page(request, slug), _user(request)
    paused = None
    try:
        lease = assignment_next(project=project, user=user)
    except PermissionDenied as error:
        if error.code != GOLD_STOP_CODE:
            raise DjangoPermissionDenied(error.message) from error
        lease, paused = None, error.message
    view = item_view_build(user=user, item=lease.item, assignment=lease) if lease else None
    return render(
        request,
        "feedback/annotate.html",
        {
            "project": project,
            "view": view,
            "can_manage": project_may_manage(user=_user(request), project=project),
            "progress": annotator_position(user=user, project=project),
            "guidelines_html": _guidelines(project),
            "paused": paused,
            "project_empty": view is None
            and paused is None
            and not Item.objects.filter(project=project).exists(),
        },
    )


def _guidelines(project: Project) -> str | None:
    return markdown_render(project.guidelines) if project.guidelines.strip() else None


def _next_payload(request: HttpRequest, project: Project) -> dict[str, Any]:
    """The annotator's next item (a lease, taken now or already held) with its HTML for the
    page to swap in; ``item`` is None when nothing is left for them, or when the project
    stopped serving them (gold accuracy below its threshold: ``paused`` says why)."""
    try:
        lease = assignment_next(project=project, user=_user(request))
    except PermissionDenied as error:
        if error.code != GOLD_STOP_CODE:
            raise
        html = render_to_string(
            "feedback/_paused.html", {"project": project, "paused": error.message}, request=request
        )
        return {"assignment": None, "item": None, "paused": error.message, "html": html}
    if lease is None:
        empty = not Item.objects.filter(project=project).exists()
        html = render_to_string(
            "feedback/_done.html", {"project": project, "project_empty": empty}, request=request
        )
        return {"assignment": None, "item": None, "html": html}
    view = item_view_build(user=_user(request), item=lease.item, assignment=lease)
    return {
        "assignment": {"id": lease.pk, "expires_at": lease.expires_at.isoformat()},
        "item": {"id": lease.item_id, "shown_order": [r.id for r in view.responses]},
        "html": render_to_string("feedback/_item.html", {"view": view}, request=request),
    }


def _wants_next(request: HttpRequest) -> bool:
    """``?next=1``: answer a submit or a skip with the next item too, saving the page a
    second round trip between two items."""
    return request.GET.get("next") in {"1", "true"}


def _next_payload_or_none(request: HttpRequest, project: Project) -> dict[str, Any] | None:
    """The next item after a submit or a skip that is already saved: a refusal here must not
    read as if the judgement had failed, so it becomes None (the page then asks ``next``)."""
    try:
        return _next_payload(request, project)
    except ApplicationError:
        return None


@require_GET
@json_view
def next_item(request: HttpRequest, slug: str) -> HttpResponse:
    """JSON: the annotator's next item, with its HTML for the page to swap in."""
    project = project_get_for_annotator(user=_user(request), slug=slug)
    return JsonResponse(_next_payload(request, project))


@require_POST
@json_view
def judgement_post(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """JSON: submit (or change) the annotator's judgement of one item; with ``?next=1``
    the answer carries the next item as well (as ``next`` answers it)."""
    project = project_get_for_annotator(user=_user(request), slug=slug)
    item = item_get_for_user(user=_user(request), project=project, item_id=item_id)
    fields = judgement_input_validate(json_body(request))
    judgement = judgement_input_submit(user=_user(request), item=item, fields=fields)
    body: dict[str, Any] = {
        "judgement": {"id": judgement.pk, "item": item.pk, "version": judgement.version}
    }
    if _wants_next(request):
        body["next"] = _next_payload_or_none(request, project)
    return JsonResponse(body, status=201)


@require_POST
@json_view
def skip_post(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """JSON: give the item back, with an optional reason (``?next=1`` as for a submit)."""
    project = project_get_for_annotator(user=_user(request), slug=slug)
    item = item_get_for_user(user=_user(request), project=project, item_id=item_id)
    data = json_body(request)
    skip = assignment_skip(
        project=project,
        user=_user(request),
        item=item,
        reason=_text(data, "reason"),
    )
    body: dict[str, Any] = {"skip": {"id": skip.pk, "item": item.pk}}
    if _wants_next(request):
        body["next"] = _next_payload_or_none(request, project)
    return JsonResponse(body)


@login_required
@require_GET
def judgement_list(request: HttpRequest, slug: str) -> HttpResponse:
    """The annotator's recent judgements in a project, to reopen and change."""
    project, user = _project_page(request, slug), _user(request)
    mine = list(
        judgements_for_user(user=user, project=project)
        .filter(annotator_id=user.pk, is_current=True)
        .select_related("item__project")
        .order_by("-created_at")[:RECENT_JUDGEMENTS]
    )
    skipped = list(
        Assignment.objects.filter(
            item__project=project, annotator_id=user.pk, status=Assignment.Status.SKIPPED
        )
        .select_related("item__project")
        .order_by("-updated_at")[:RECENT_JUDGEMENTS]
    )
    changed = request.GET.get("changed", "")
    return render(
        request,
        "feedback/judgements.html",
        {
            "project": project,
            "rows": judgement_rows(user=user, judgements=mine),
            "skipped": judgement_rows(user=user, judgements=[], skips=skipped),
            "changed": int(changed) if changed.isdigit() else None,
        },
    )


@login_required
@require_POST
def item_reopen(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Take a skipped item back: it becomes the annotator's current item."""
    project = _project_page(request, slug)
    try:
        item = item_get_for_user(user=_user(request), project=project, item_id=item_id)
        assignment_reopen(project=project, user=_user(request), item=item)
    except NotFound as error:
        raise Http404(error.message) from error
    except PermissionDenied as error:
        raise DjangoPermissionDenied(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("judgements", slug=slug)
    messages.success(request, "Reopened the item you skipped. Here it is.")
    return redirect("annotate", slug=slug)


@login_required
@require_GET
def item_page(request: HttpRequest, slug: str, item_id: int) -> HttpResponse:
    """Reopen an item the annotator judged: their current judgement, ready to change."""
    project = _project_page(request, slug)
    try:
        item = item_get_for_user(user=_user(request), project=project, item_id=item_id)
    except NotFound as error:
        raise Http404(error.message) from error
    mine = judgements_for_user(user=_user(request), project=project).filter(
        item=item, annotator_id=request.user.pk
    )
    # One current judgement per round judged: ``?round=N``, else the newest round's.
    current_all = mine.filter(is_current=True).order_by("-round")
    wanted = request.GET.get("round", "")
    if wanted.isdigit():
        current_all = current_all.filter(round=int(wanted))
    current = current_all.first()
    if current is None:
        raise Http404("You have not judged this item.")
    view = item_view_build(user=_user(request), item=item, judgement=current)
    labels = {r.id: r.label for r in view.responses}
    history = [
        (old, ranking_text(judgement=old, labels=labels))
        for old in mine.filter(is_current=False, round=current.round).order_by("-version")
    ]
    return render(
        request,
        "feedback/item.html",
        {
            "project": project,
            "view": view,
            "history": history,
            "guidelines_html": _guidelines(project),
        },
    )
