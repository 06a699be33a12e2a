"""The export: the project's preference dataset streamed as JSON Lines."""

from typing import Any

import orjson
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from feedback.access import EXPORTING_ROLES
from feedback.api.base import ProjectView
from feedback.export import ExportStream, export_params_parse, export_row_count
from feedback.export.params import AGGREGATES, FORMATS, MARGIN_MODES, PAIR_MODES, SPLITS


class NDJSONRenderer(BaseRenderer):
    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = None

    def render(
        self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None
    ) -> bytes:
        return b"" if data is None else orjson.dumps(data)


class ErrorsAsJSON(BaseContentNegotiation):
    """The export answers JSON Lines when it succeeds; errors are always JSON."""

    def select_parser(self, request: Request, parsers: Any) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(self, request: Request, renderers: Any, format_suffix: Any = None) -> Any:
        renderer = JSONRenderer()
        return renderer, renderer.media_type


EXPORT_PARAMETERS = [
    OpenApiParameter("format", str, enum=list(FORMATS), description="Row shape (default trl)."),
    OpenApiParameter(
        "pairs",
        str,
        enum=list(PAIR_MODES),
        description="How a ranking becomes pairs (default all).",
    ),
    OpenApiParameter(
        "ties",
        str,
        enum=["skip", "margin0"],
        description="Tied responses: no pair (skip, default) or a pair with margin 0.",
    ),
    OpenApiParameter(
        "margin", str, enum=list(MARGIN_MODES), description="Add a margin column for RewardTrainer."
    ),
    OpenApiParameter(
        "aggregate",
        str,
        enum=list(AGGREGATES),
        description=(
            "none: rows per judgement; consensus: per item (Copeland); weighted-consensus: "
            "Copeland with each judgement counted by its annotator's reliability."
        ),
    ),
    OpenApiParameter(
        "weight",
        str,
        enum=["reliability"],
        description=(
            "Add a weight column (TRL pair formats): the annotator's Dawid-Skene "
            "reliability, or a consensus pair's reliability-weighted support."
        ),
    ),
    OpenApiParameter(
        "min_reliability",
        float,
        description="0 to 1: leave out the judgements of annotators less reliable.",
    ),
    OpenApiParameter(
        "min_agreement", float, description="0 to 1: leave out items whose annotators agree less."
    ),
    OpenApiParameter(
        "min_judgements", int, description="Leave out items with fewer rankable judgements."
    ),
    OpenApiParameter(
        "since", OpenApiTypes.DATETIME, description="Judgements made at or after (ISO 8601)."
    ),
    OpenApiParameter(
        "until", OpenApiTypes.DATETIME, description="Judgements made before (ISO 8601)."
    ),
    OpenApiParameter("annotator", str, description="A user id or username."),
    OpenApiParameter("source", str, enum=["human", "imported"], description="Judgement source."),
    OpenApiParameter(
        "exclude_flagged", bool, description="Leave out flagged and unrankable judgements."
    ),
    OpenApiParameter(
        "split", str, enum=list(SPLITS), description="Stable split by a hash of the item."
    ),
    OpenApiParameter("test_fraction", float, description="0 to 1, with split (default 0.1)."),
    OpenApiParameter(
        "include_gold", bool, description="Gold items' judgements too (default false: left out)."
    ),
]


class ExportView(ProjectView):
    roles = EXPORTING_ROLES
    renderer_classes = [JSONRenderer, NDJSONRenderer]
    content_negotiation_class = ErrorsAsJSON

    @extend_schema(
        summary="Stream the project's preference dataset as JSON Lines (admins, exporters)",
        description=(
            "Streams `application/x-ndjson`, one row per line, in a deterministic order; never"
            " built in memory. `X-Row-Count` is set when a COUNT can tell it (format=rankings"
            " without per-item filters). For a content hash, make a snapshot: it records the"
            " SHA-256 of the same bytes. See feedback/export/README.md for every format."
        ),
        parameters=EXPORT_PARAMETERS,
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(
                response=OpenApiTypes.STR, description="One JSON object per line."
            )
        },
    )
    def get(self, request: Request, slug: str) -> StreamingHttpResponse:
        project = self.project
        params = export_params_parse(request.query_params.dict())
        count = export_row_count(project=project, params=params)
        stream = ExportStream(project=project, params=params)
        response = StreamingHttpResponse(iter(stream), content_type="application/x-ndjson")
        response["Content-Disposition"] = (
            f'attachment; filename="{project.slug}-{params.format}.jsonl"'
        )
        response["Cache-Control"] = "no-store"
        if count is not None:
            response["X-Row-Count"] = str(count)
        return response
