"""REST API of the training app: jobs, the model registry and retrain policies.

Thin doors: parse with the serializers, scope with ``training.selectors``, act with
``training.services``. Everything here is for project admins and staff; anyone else gets
404 (or 403 when they are a member of the project without the admin role).
"""

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound, PermissionDenied, ValidationError
from feedback.access import MANAGING_ROLES
from feedback.api.base import NewestFirst, ProjectView, choice_param, text_param
from feedback.api.serializers import page_of
from feedback.models import Project
from training.artifacts import artifact_absolute, directory_zip_stream
from training.models import DatasetSnapshot, JobKind, ModelVersion, RetrainPolicy, TrainingJob
from training.selectors import (
    TRAINING_DENIED,
    job_get_for_user,
    jobs_for_user,
    model_get_for_user,
    models_for_user,
    training_project_get,
)
from training.serializers import (
    JobCreateInput,
    JobDetailSerializer,
    JobSerializer,
    ModelVersionSerializer,
    RetrainCheckSerializer,
    RetrainPolicySerializer,
    RetrainRunSerializer,
    RollbackInput,
)
from training.services import (
    job_cancel,
    job_create,
    job_retry,
    model_promote,
    model_rollback,
    retrain_check,
    retrain_policy_save,
)
from training.services.jobs import job_config_defaults, job_config_schema


def _scoped_version(project: Project, version_id: int | None, field: str) -> ModelVersion | None:
    if version_id is None:
        return None
    version = ModelVersion.objects.filter(project=project, pk=version_id).first()
    if version is None:
        raise ValidationError(
            f"{field}: no model version {version_id} in this project",
            details={field: [f"no model version {version_id} in this project"]},
        )
    return version


class JobListCreate(APIView):
    @extend_schema(
        summary="Training jobs of the projects you administer, newest first",
        operation_id="jobs_list",
        parameters=[
            OpenApiParameter("project", str, description="Only this project (slug)."),
            OpenApiParameter(
                "status",
                str,
                enum=TrainingJob.Status.values,
                description="Only jobs with this status.",
            ),
            OpenApiParameter(
                "kind", str, enum=JobKind.values, description="Only jobs of this kind."
            ),
        ],
        responses=page_of(JobSerializer, "JobPage"),
    )
    def get(self, request: Request) -> Response:
        jobs = jobs_for_user(user=request.user).select_related(
            "project",
            "snapshot",
            "parent__project",
            "reward_model__project",
            "baseline__project",
            "model_version__project",
        )
        if project := text_param(request, "project", max_length=100):
            jobs = jobs.filter(project__slug=project)
        if job_status := choice_param(request, "status", TrainingJob.Status.values):
            jobs = jobs.filter(status=job_status)
        if kind := choice_param(request, "kind", JobKind.values):
            jobs = jobs.filter(kind=kind)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(jobs, request, view=self)
        data = JobSerializer(page, many=True, context={"log_lines": 0}).data
        return paginator.get_paginated_response(data)

    @extend_schema(
        summary="Launch a job (project admins, staff)",
        description=(
            "Everything is validated before anything is queued: a bad hyperparameter is a 400"
            " naming `config.<field>`. `snapshot_params` makes a fresh snapshot now."
        ),
        request=JobCreateInput,
        responses={201: JobSerializer},
    )
    def post(self, request: Request) -> Response:
        payload = JobCreateInput(data=request.data)
        payload.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(payload.validated_data)
        project = training_project_get(user=request.user, slug=data["project"])
        base_model = data.get("base_model") or ""
        if base_model and not request.user.is_staff and base_model != settings.BASE_MODEL:
            raise PermissionDenied("Only staff may name a base model; pick a parent version.")
        snapshot = None
        if data.get("snapshot") is not None:
            snapshot = DatasetSnapshot.objects.filter(project=project, pk=data["snapshot"]).first()
            if snapshot is None:
                reason = f"no snapshot {data['snapshot']} in this project"
                raise ValidationError(f"snapshot: {reason}", details={"snapshot": [reason]})
        job = job_create(
            project=project,
            kind=data["kind"],
            launched_by=f"admin:{request.user.get_username()}",
            user=request.user,  # type: ignore[arg-type]
            snapshot=snapshot,
            snapshot_params=data.get("snapshot_params"),
            base_model=base_model,
            parent=_scoped_version(project, data.get("parent"), "parent"),
            reward_model=_scoped_version(project, data.get("reward_model"), "reward_model"),
            baseline=_scoped_version(project, data.get("baseline"), "baseline"),
            config=data.get("config"),
            max_attempts=data.get("max_attempts"),
        )
        return Response(JobSerializer(job).data, status=status.HTTP_201_CREATED)


class JobDetail(APIView):
    @extend_schema(
        summary="One job, with progress and metric curves", responses=JobDetailSerializer
    )
    def get(self, request: Request, job_id: int) -> Response:
        job = job_get_for_user(user=request.user, job_id=job_id)
        return Response(JobDetailSerializer(job).data)


class JobCancel(APIView):
    @extend_schema(
        summary="Cancel a job (409 once finished)", request=None, responses=JobSerializer
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = job_cancel(job=job_get_for_user(user=request.user, job_id=job_id))
        return Response(JobSerializer(job).data)


class JobRetry(APIView):
    @extend_schema(
        summary="Queue a failed or cancelled job again", request=None, responses=JobSerializer
    )
    def post(self, request: Request, job_id: int) -> Response:
        job = job_retry(job=job_get_for_user(user=request.user, job_id=job_id))
        return Response(JobSerializer(job).data)


class JobKinds(APIView):
    """Each job kind with its hyperparameters: defaults and documentation (for forms)."""

    @extend_schema(summary="Job kinds with their hyperparameters", responses=OpenApiTypes.OBJECT)
    def get(self, request: Request) -> Response:
        return Response(
            {
                kind: {
                    "label": label,
                    "defaults": job_config_defaults(kind=kind),
                    "schema": job_config_schema(kind=kind),
                }
                for kind, label in JobKind.choices
            }
        )


class ModelList(APIView):
    @extend_schema(
        summary="Model versions of the projects you administer, newest first",
        operation_id="models_list",
        parameters=[
            OpenApiParameter("project", str, description="Only this project (slug)."),
            OpenApiParameter("kind", str, enum=["policy", "reward"]),
            OpenApiParameter("status", str, enum=["candidate", "promoted", "archived"]),
        ],
        responses=page_of(ModelVersionSerializer, "ModelVersionPage"),
    )
    def get(self, request: Request) -> Response:
        versions = models_for_user(user=request.user).select_related(
            "project", "parent__project", "snapshot"
        )
        if kind := choice_param(request, "kind", ModelVersion.Kind.values):
            versions = versions.filter(kind=kind)
        if version_status := choice_param(request, "status", ModelVersion.Status.values):
            versions = versions.filter(status=version_status)
        if project := text_param(request, "project", max_length=100):
            versions = versions.filter(project__slug=project)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response(ModelVersionSerializer(page, many=True).data)


class ModelDetail(APIView):
    @extend_schema(summary="One model version", responses=ModelVersionSerializer)
    def get(self, request: Request, version_id: int) -> Response:
        version = model_get_for_user(user=request.user, version_id=version_id)
        return Response(ModelVersionSerializer(version).data)


class ModelPromote(APIView):
    @extend_schema(
        summary="Promote a version (the promoted one of its kind is archived)",
        request=None,
        responses=ModelVersionSerializer,
    )
    def post(self, request: Request, version_id: int) -> Response:
        version = model_promote(
            version=model_get_for_user(user=request.user, version_id=version_id)
        )
        return Response(ModelVersionSerializer(version).data)


class ModelRollback(APIView):
    @extend_schema(
        summary="Promote again the version promoted before the current one",
        request=RollbackInput,
        responses=ModelVersionSerializer,
    )
    def post(self, request: Request) -> Response:
        payload = RollbackInput(data=request.data)
        payload.is_valid(raise_exception=True)
        project = training_project_get(user=request.user, slug=payload.validated_data["project"])
        version = model_rollback(project=project, kind=payload.validated_data["kind"])
        return Response(ModelVersionSerializer(version).data)


class ModelDownload(APIView):
    """The version's files (weights, tokenizer, config, card.json) as a streamed zip."""

    @extend_schema(
        summary="Download a version's files as a zip",
        responses={(200, "application/zip"): OpenApiResponse(response=OpenApiTypes.BINARY)},
    )
    def get(self, request: Request, version_id: int) -> StreamingHttpResponse:
        version = model_get_for_user(user=request.user, version_id=version_id)
        root = artifact_absolute(version.artifact_path)
        if not root.is_dir():
            raise NotFound(f"The files of {version.label} are no longer on disk.")
        name = version.label.replace("/", "-")
        response = StreamingHttpResponse(
            directory_zip_stream(root, prefix=name), content_type="application/zip"
        )
        response["Content-Disposition"] = f'attachment; filename="{name}.zip"'
        return response


class RetrainPolicyDetail(ProjectView):
    roles = MANAGING_ROLES
    denied_message = TRAINING_DENIED

    @extend_schema(summary="The project's retrain policy", responses=RetrainPolicySerializer)
    def get(self, request: Request, slug: str) -> Response:
        project = self.project
        policy = RetrainPolicy.objects.filter(project=project).first() or RetrainPolicy(
            project=project
        )
        return Response(RetrainPolicySerializer(policy).data)

    @extend_schema(
        summary="Change the retrain policy (and its beat schedule)",
        request=RetrainPolicySerializer,
        responses=RetrainPolicySerializer,
    )
    def put(self, request: Request, slug: str) -> Response:
        project = self.project
        payload = RetrainPolicySerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        policy = retrain_policy_save(project=project, **payload.validated_data)
        return Response(RetrainPolicySerializer(policy).data)


class RetrainCheckNow(ProjectView):
    """Run the threshold check now instead of waiting for beat."""

    roles = MANAGING_ROLES
    denied_message = TRAINING_DENIED

    @extend_schema(
        summary="Check the retrain threshold now",
        request=None,
        responses={200: RetrainCheckSerializer, 201: RetrainCheckSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = self.project
        run = retrain_check(project=project, launched_by=f"admin:{request.user.get_username()}")
        if run is None:
            return Response({"started": False, "run": None})
        body = {"started": True, "run": RetrainRunSerializer(run).data}
        return Response(body, status=status.HTTP_201_CREATED)
