"""The agreement endpoint: ``GET /api/projects/{slug}/agreement/`` (project admins).

Krippendorff's alpha on the rankings with a bootstrap 95% interval, Kendall's tau-b per
pair of annotators, Fleiss' kappa in pairwise projects, gold accuracy and Dawid-Skene
reliability per annotator (``feedback.quality.agreement``). A figure that cannot be
computed is ``null``, with the reason under ``reasons``. Computed once per state of the
project's judgements and kept in the shared cache (``project_agreement_cached``).
"""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse

from core.errors import ValidationError
from feedback.access import MANAGING_ROLES
from feedback.api.base import ProjectView
from feedback.quality.agreement import project_agreement_cached
from feedback.quality.metrics import BOOTSTRAP_SAMPLES

MAX_SAMPLES = 10_000


class AgreementView(ProjectView):
    roles = MANAGING_ROLES

    @extend_schema(
        operation_id="projects_agreement",
        summary="Agreement between the project's annotators, and each one's reliability",
        description=(
            "`alpha`: Krippendorff's ordinal alpha on each response's rank (ties share a "
            "rank), `alpha_ci` its bootstrap 95% interval over items; `pairs`: Kendall's "
            "tau-b between two annotators, the mean over the items both ranked; `annotators`"
            ": items judged, mean tau-b, gold accuracy, Dawid-Skene reliability; pairwise "
            "projects add `kappa` (Fleiss), `kappa_ci` and `agreement_rate`. `null` where "
            "too few overlapping judgements exist; `reasons` says why."
        ),
        parameters=[
            OpenApiParameter(
                "samples",
                int,
                description=f"bootstrap resamples ({BOOTSTRAP_SAMPLES}; 0 to {MAX_SAMPLES})",
            )
        ],
        responses={200: OpenApiTypes.OBJECT},
    )
    def get(self, request: Request, slug: str) -> ApiResponse:
        raw = request.query_params.get("samples", str(BOOTSTRAP_SAMPLES))
        if not raw.isdigit() or int(raw) > MAX_SAMPLES:
            reason = f"must be a whole number from 0 to {MAX_SAMPLES}"
            raise ValidationError(f"samples: {reason}", details={"samples": [reason]})
        report, _ = project_agreement_cached(project=self.project, samples=int(raw))
        return ApiResponse(report.as_dict())
