"""Background imports over the API: upload a file, then poll its job.

``POST /api/projects/{slug}/imports/`` (multipart: ``file``, ``format``, ``source_name``?)
stores the file and answers 202 with the job at once; ``GET .../imports/{id}/`` tells
its status, progress and, when it finishes, the result or the row errors. Project
admins and staff only. The same import service as ``.../items/import/`` (which answers
when the import is done) and ``manage.py import_items``.
"""

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response

from core.errors import NotFound
from core.parsers import FormParser, MultiPartParser
from feedback.access import MANAGING_ROLES
from feedback.api.base import NewestFirst, ProjectView
from feedback.api.serializers import page_of
from feedback.models import ImportJob
from feedback.services.import_jobs import import_job_create
from feedback.services.imports import IMPORT_FORMATS


class ImportJobInput(serializers.Serializer[Any]):
    file = serializers.FileField(help_text="JSON Lines or a JSON array, optionally gzipped.")
    format = serializers.ChoiceField(choices=IMPORT_FORMATS)
    source_name = serializers.CharField(required=False, allow_blank=True, max_length=100)


class ImportRowErrorSerializer(serializers.Serializer[Any]):
    row = serializers.IntegerField(allow_null=True, help_text="Row number; null: the file.")
    field = serializers.CharField(allow_null=True)
    message = serializers.CharField()


class ImportJobSerializer(serializers.ModelSerializer[ImportJob]):
    project = serializers.CharField(source="project.slug", read_only=True)
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True, default=None
    )
    progress = serializers.SerializerMethodField(
        help_text="0 to 1: the share of the stored file read so far."
    )
    errors = ImportRowErrorSerializer(  # type: ignore[assignment]
        many=True, read_only=True, help_text="Up to 50 listed."
    )
    result = serializers.DictField(
        read_only=True,
        allow_null=True,
        help_text="When succeeded: items_created, items_existing, responses_created, "
        "judgements_created, rows_read, rows_skipped, warnings.",
    )

    class Meta:
        model = ImportJob
        fields = [
            "id",
            "project",
            "status",
            "format",
            "source_name",
            "filename",
            "file_bytes",
            "bytes_read",
            "rows_read",
            "progress",
            "result",
            "errors",
            "error_count",
            "message",
            "attempts",
            "created_by",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def get_progress(self, job: ImportJob) -> float:
        if job.status == ImportJob.Status.SUCCEEDED:
            return 1.0
        if not job.file_bytes:
            return 0.0
        return round(min(job.bytes_read / job.file_bytes, 1.0), 4)


class ImportJobListView(ProjectView):
    roles = MANAGING_ROLES
    parser_classes = [MultiPartParser, FormParser]

    @extend_schema(
        operation_id="projects_imports_list",
        summary="Background imports of a project, newest first (project admins)",
        responses=page_of(ImportJobSerializer, "ImportJobPage"),
    )
    def get(self, request: Request, slug: str) -> Response:
        project = self.project
        jobs = ImportJob.objects.filter(project=project).select_related("project", "created_by")
        paginator = NewestFirst()
        page = paginator.paginate_queryset(jobs, request, view=self)
        return paginator.get_paginated_response(ImportJobSerializer(page, many=True).data)

    @extend_schema(
        summary="Start a background import of a file (project admins)",
        description=(
            "Stores the file and answers 202 with the job at once; a worker imports it"
            " (all or nothing, the same rules as `items/import/`). Poll"
            " `GET .../imports/{id}/` for status (queued, running, succeeded, failed),"
            " progress, the result, or the row errors."
        ),
        request={"multipart/form-data": ImportJobInput},
        responses={202: ImportJobSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.project
        body = ImportJobInput(data=request.data)
        body.is_valid(raise_exception=True)
        upload = body.validated_data["file"]
        job = import_job_create(
            project=project,
            upload=upload,
            format=body.validated_data["format"],
            filename=upload.name or "upload",
            source_name=body.validated_data.get("source_name"),
            user=self.user,
        )
        job = ImportJob.objects.select_related("project", "created_by").get(pk=job.pk)
        return Response(ImportJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)


class ImportJobDetailView(ProjectView):
    roles = MANAGING_ROLES

    @extend_schema(
        summary="One background import: status, progress, result or row errors",
        responses=ImportJobSerializer,
    )
    def get(self, request: Request, slug: str, job_id: int) -> Response:
        project = self.project
        job = (
            ImportJob.objects.filter(project=project, pk=job_id)
            .select_related("project", "created_by")
            .first()
        )
        if job is None:
            raise NotFound(f"No import {job_id} in project '{slug}'.")
        return Response(ImportJobSerializer(job).data)
