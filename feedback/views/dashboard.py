"""The project dashboard, for the project's admins and staff."""

from collections import defaultdict
from datetime import date

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.errors import NotFound
from feedback.selectors import project_dashboard, project_get_for_user, project_may_manage

CHART_WIDTH = 600


@login_required
@require_GET
def dashboard(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        project = project_get_for_user(user=request.user, slug=slug)
    except NotFound as error:
        raise Http404(error.message) from error
    if not project_may_manage(user=request.user, project=project):
        raise PermissionDenied("Only the project's admins see its dashboard.")
    board = project_dashboard(project=project)
    total = board.items_waiting + board.items_in_progress + board.items_complete
    states = [
        ("complete", "Complete", board.items_complete),
        ("progress", "In progress", board.items_in_progress),
        ("waiting", "Waiting", board.items_waiting),
    ]
    # SVG bar widths (attributes, not inline styles: the CSP forbids those).
    state_bars = [
        (key, label, n, round(CHART_WIDTH * n / total) if total else 0) for key, label, n in states
    ]
    days: dict[date, dict[str, int]] = defaultdict(dict)
    annotators: set[str] = set()
    for name, day, n in board.per_annotator_day:
        days[day][name] = n
        annotators.add(name)
    names = sorted(annotators)
    busiest = max((sum(d.values()) for d in days.values()), default=0)
    day_rows = [
        (
            day,
            [counts.get(name, 0) for name in names],
            sum(counts.values()),
            round(CHART_WIDTH / 2 * sum(counts.values()) / busiest) if busiest else 0,
        )
        for day, counts in sorted(days.items(), reverse=True)
    ]
    return render(
        request,
        "feedback/dashboard.html",
        {
            "project": project,
            "board": board,
            "total": total,
            "state_bars": state_bars,
            "chart_width": CHART_WIDTH,
            "names": names,
            "day_rows": day_rows,
        },
    )
