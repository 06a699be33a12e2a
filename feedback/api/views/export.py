"""The export: the project's preference dataset streamed as JSON Lines."""

from typing import Any

import orjson
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request

from feedback.access import EXPORTING_ROLES
from feedback.api.base import ProjectView
from feedback.api.export_schema import ExportParameters
from feedback.export import ExportStream, export_params_parse, export_row_count


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
        parameters=[ExportParameters],  # each field a query parameter (params.py)
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
