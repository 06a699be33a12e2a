"""The review queue page, for a project's admins: the items to look at (low agreement,
"cannot rank" flags, skips, gold misses) and a form per judgement to accept or reject it
(``feedback.quality.review`` reads, ``feedback.services.review`` writes)."""

from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from core.errors import ApplicationError, NotFound, ValidationError
from feedback.access import MANAGING_ROLES
from feedback.quality.review import KIND_LABELS, KINDS, LOW_AGREEMENT, STATES, review_queue
from feedback.services.review import judgement_accept, judgement_reject
from feedback.views.access import page_access

DENIED = "Only the project's admins review its judgements."
FILTERS = ("kind", "annotator", "state")


def _filters(data: dict[str, str]) -> dict[str, str]:
    return {k: data[k] for k in FILTERS if data.get(k)}


@login_required
@require_GET
def review(request: HttpRequest, slug: str) -> HttpResponse:
    project = page_access(request, slug, MANAGING_ROLES, DENIED).project
    filters = _filters(request.GET.dict())
    page = request.GET.get("page", "1")
    try:
        queue = review_queue(
            project=project,
            kind=filters.get("kind"),
            annotator=filters.get("annotator"),
            state=filters.get("state"),
            page=int(page) if page.isdigit() else 1,
        )
    except ValidationError as error:
        return HttpResponseBadRequest(error.message)
    query = urlencode(filters)
    return render(
        request,
        "feedback/review.html",
        {
            "project": project,
            "queue": queue,
            "filters": filters,
            "query": query,
            "kinds": [(k, KIND_LABELS[k], queue.counts[k]) for k in KINDS],
            "kind_labels": KIND_LABELS,
            "states": STATES,
            "low_agreement": LOW_AGREEMENT,
            "back": f"?{query}&page={queue.page}" if query else f"?page={queue.page}",
        },
    )


@login_required
@require_POST
def review_judgement(request: HttpRequest, slug: str, judgement_id: int) -> HttpResponse:
    """Accept or reject one judgement, then back to the queue where the admin was."""
    project = page_access(request, slug, MANAGING_ROLES, DENIED).project
    action = request.POST.get("action", "")
    note = request.POST.get("note", "")
    reviewer = request.user
    assert isinstance(reviewer, User)
    back = request.POST.get("back", "")
    target = reverse("review", args=[slug]) + (back if back.startswith("?") else "")
    try:
        if action == "reject":
            judgement_reject(
                project=project, reviewer=reviewer, judgement_id=judgement_id, note=note
            )
            messages.success(
                request, f"Rejected judgement {judgement_id}: its item is back in the queue."
            )
        elif action == "accept":
            judgement_accept(
                project=project, reviewer=reviewer, judgement_id=judgement_id, note=note
            )
            messages.success(request, f"Accepted judgement {judgement_id}.")
        else:
            return HttpResponseBadRequest("action: must be accept or reject")
    except NotFound as error:
        raise Http404(error.message) from error
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect(target)
