"""REST API of dataset snapshots: make one from export parameters, list, get, download.

For project admins and exporters (staff: all); a project one is not in is 404, a member
without an exporting role gets 403.
"""

from django.http import FileResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import NotFound, ValidationError
from feedback.access import EXPORTING_ROLES
from feedback.api.base import NewestFirst, ProjectView
from feedback.api.export_schema import ExportParameters
from feedback.api.serializers import page_of
from training.models import DatasetSnapshot
from training.selectors import snapshot_get_for_user, snapshots_for_user
from training.services import snapshot_create, snapshot_file
from training.services.snapshots import snapshot_parquet_file


class SnapshotSerializer(serializers.ModelSerializer[DatasetSnapshot]):
    project = serializers.CharField(source="project.slug", read_only=True)
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)
    has_parquet = serializers.SerializerMethodField()

    class Meta:
        model = DatasetSnapshot
        fields = [
            "id",
            "project",
            "format",
            "params",
            "status",
            "row_count",
            "byte_size",
            "sha256",
            "has_parquet",
            "created_by",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_has_parquet(self, snapshot: DatasetSnapshot) -> bool:
        return bool(snapshot.parquet_path)


SnapshotPage = page_of(SnapshotSerializer, "SnapshotPage")


class SnapshotListView(ProjectView):
    roles = EXPORTING_ROLES

    @extend_schema(
        operation_id="projects_snapshots_list",
        summary="Snapshots of a project, newest first",
        responses=SnapshotPage,
    )
    def get(self, request: Request, slug: str) -> Response:
        user, project = self.user, self.project
        paginator = NewestFirst()
        page = paginator.paginate_queryset(
            snapshots_for_user(user=user, project=project), request, view=self
        )
        assert page is not None
        return paginator.get_paginated_response(SnapshotSerializer(page, many=True).data)

    @extend_schema(
        summary="Write an immutable snapshot of the export (admins, exporters)",
        description=(
            "The body holds export parameters (the same as the export's query string). The"
            " file is written before the answer: JSON Lines, plus Parquet for the TRL formats,"
            " with row count, byte size and SHA-256 recorded. 409 when no row matches."
        ),
        request=ExportParameters,
        responses={201: SnapshotSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        user, project = self.user, self.project
        if not isinstance(request.data, dict):
            raise ValidationError(
                "The body must be a JSON object of export parameters.",
                details={"non_field_errors": ["must be a JSON object"]},
            )
        # The export's own parser checks the values (and names the field), as for GET.
        snapshot = snapshot_create(project=project, params=dict(request.data), user=user)
        return Response(SnapshotSerializer(snapshot).data, status=status.HTTP_201_CREATED)


class SnapshotDetailView(ProjectView):
    roles = EXPORTING_ROLES

    @extend_schema(summary="One snapshot", responses=SnapshotSerializer)
    def get(self, request: Request, slug: str, snapshot_id: int) -> Response:
        user, project = self.user, self.project
        snapshot = snapshot_get_for_user(user=user, project=project, snapshot_id=snapshot_id)
        return Response(SnapshotSerializer(snapshot).data)


class SnapshotDownloadView(ProjectView):
    roles = EXPORTING_ROLES

    @extend_schema(
        summary="Download a snapshot's file",
        description="`X-Content-SHA256` and the ETag carry the recorded hash of the JSONL file.",
        parameters=[
            OpenApiParameter(
                "kind", str, enum=["jsonl", "parquet"], description="File kind (default jsonl)."
            )
        ],
        responses={
            (200, "application/x-ndjson"): OpenApiResponse(response=OpenApiTypes.BINARY),
            (200, "application/vnd.apache.parquet"): OpenApiResponse(response=OpenApiTypes.BINARY),
        },
    )
    def get(self, request: Request, slug: str, snapshot_id: int) -> FileResponse:
        user, project = self.user, self.project
        snapshot = snapshot_get_for_user(user=user, project=project, snapshot_id=snapshot_id)
        kind = request.query_params.get("kind") or "jsonl"
        if kind not in ("jsonl", "parquet"):
            raise ValidationError(
                "kind: must be jsonl or parquet", details={"kind": ["must be jsonl or parquet"]}
            )
        if kind == "parquet":
            path = snapshot_parquet_file(snapshot)
            if path is None:
                raise NotFound(f"Snapshot {snapshot.pk} ({snapshot.format}) has no Parquet file.")
            content_type = "application/vnd.apache.parquet"
        else:
            path = snapshot_file(snapshot)
            content_type = "application/x-ndjson"
        if not path.is_file():
            raise NotFound(f"The file of snapshot {snapshot.pk} is missing from the disk.")
        response = FileResponse(
            path.open("rb"), as_attachment=True, filename=path.name, content_type=content_type
        )
        response["X-Content-SHA256"] = snapshot.sha256
        response["X-Row-Count"] = str(snapshot.row_count)
        if kind == "jsonl":
            response["ETag"] = f'"{snapshot.sha256}"'
        return response
