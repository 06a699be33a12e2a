"""The leaderboard page: the project's models ranked from blind human votes, with their
bootstrap 95% intervals drawn, plain and with length control side by side."""

from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from core.errors import NotFound, PermissionDenied
from feedback.access import EXPORTING_ROLES, project_access
from feedback.leaderboard import Leaderboard, project_leaderboard_cached

CHART_WIDTH = 420
ROW_HEIGHT = 26


def _chart(board: Leaderboard, low: float, high: float) -> list[dict[str, object]]:
    """Each standing with x positions (SVG attributes) for its interval and its score."""
    span = (high - low) or 1.0

    def x(value: float) -> int:
        return round(CHART_WIDTH * (value - low) / span)

    return [
        {
            "standing": s,
            "y": n * ROW_HEIGHT,
            "x_lo": x(s.ci[0]),
            "x_hi": x(s.ci[1]),
            "x_score": x(s.score),
        }
        for n, s in enumerate(board.standings)
    ]


@login_required
@require_GET
def leaderboard(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        project = project_access(user=request.user, slug=slug, roles=EXPORTING_ROLES).project
    except NotFound as error:
        raise Http404(error.message) from error
    except PermissionDenied as error:
        raise DjangoPermissionDenied(error.message) from error
    boards = [
        ("Bradley-Terry", project_leaderboard_cached(project=project, control="none")[0]),
        ("With length control", project_leaderboard_cached(project=project, control="length")[0]),
    ]
    values = [v for _, b in boards for s in b.standings for v in (s.ci[0], s.ci[1], s.score)]
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    panels = [
        {"title": title, "board": board, "rows": _chart(board, low, high)}
        for title, board in boards
    ]
    return render(
        request,
        "feedback/leaderboard.html",
        {
            "project": project,
            "panels": panels,
            "comparisons": boards[0][1].comparisons,
            "chart_width": CHART_WIDTH,
            "chart_height": ROW_HEIGHT * max((len(b.standings) for _, b in boards), default=0) + 8,
            "low": low,
            "high": high,
        },
    )
