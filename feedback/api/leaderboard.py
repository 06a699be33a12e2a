"""The leaderboard endpoint: ``GET /api/projects/{slug}/leaderboard/``.

Project admins, exporters and staff may read it (annotators stay blind to model names).
"""

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from core.errors import ValidationError
from feedback.access import EXPORTING_ROLES
from feedback.api.base import ProjectView
from feedback.leaderboard import BOOTSTRAP_ROUNDS, CONTROLS, project_leaderboard_cached

MAX_ROUNDS = 1000

Standing = inline_serializer(
    name="LeaderboardStanding",
    fields={
        "model": serializers.CharField(help_text="model_name, or the source (imported, human)"),
        "score": serializers.FloatField(help_text="Bradley-Terry strength on the Elo scale"),
        "ci": serializers.ListField(
            child=serializers.FloatField(), help_text="bootstrap 95% interval [lo, hi]"
        ),
        "comparisons": serializers.IntegerField(),
        "win_rate": serializers.FloatField(help_text="(wins + ties / 2) / comparisons"),
    },
    many=True,
)


def _params(request: Request) -> tuple[str, int]:
    control = request.query_params.get("control", "none")
    if control not in CONTROLS:
        reason = f"must be one of {', '.join(CONTROLS)}"
        raise ValidationError(f"control: {reason}", details={"control": [reason]})
    raw = request.query_params.get("rounds", str(BOOTSTRAP_ROUNDS))
    if not raw.isdigit() or not 0 <= int(raw) <= MAX_ROUNDS:
        reason = f"must be a whole number from 0 to {MAX_ROUNDS}"
        raise ValidationError(f"rounds: {reason}", details={"rounds": [reason]})
    return control, int(raw)


class LeaderboardView(ProjectView):
    roles = EXPORTING_ROLES

    @extend_schema(
        operation_id="projects_leaderboard",
        summary="The models ranked by Bradley-Terry strength from the judgements, best first",
        description=(
            "Every current judgement implies pairwise comparisons (ties as half wins); the "
            "strengths are fitted by maximum likelihood with bootstrap 95% intervals. "
            "control=length adds the length difference as a covariate (style control)."
        ),
        parameters=[
            OpenApiParameter("control", str, enum=list(CONTROLS), description="none or length"),
            OpenApiParameter(
                "rounds",
                int,
                description=f"bootstrap resamples (100; at most {MAX_ROUNDS})",
            ),
        ],
        responses={200: Standing},
    )
    def get(self, request: Request, slug: str) -> ApiResponse:
        control, rounds = _params(request)
        board, _ = project_leaderboard_cached(project=self.project, control=control, rounds=rounds)
        return ApiResponse([standing.as_dict() for standing in board.standings])
