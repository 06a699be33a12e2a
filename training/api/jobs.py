"""REST API of the training app: jobs, the model registry and retrain policies.

Thin doors: parse with the serializers, scope with ``training.selectors``, act with
``training.services``. Everything here is for project admins and staff; anyone else gets
404 (or 403 when they are a member of the project without the admin role).
"""

from typing import Any

from django.conf import settings
from django.http import StreamingHttpResponse
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from core.errors import NotFound, PermissionDenied, ValidationError
from feedback.api.views import NewestFirst
from feedback.models import Project
from training.artifacts import artifact_absolute, directory_zip_stream
from training.models import DatasetSnapshot, JobKind, ModelVersion, RetrainPolicy, RetrainRun
from training.selectors import (
    job_get_for_user,
    job_metric_series,
    jobs_for_user,
    model_get_for_user,
    models_for_user,
    training_project_get,
)
from training.serializers import (
    JobCreateInput,
    JobSerializer,
    ModelVersionSerializer,
    RetrainPolicySerializer,
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
    def get(self, request: Request) -> Response:
        jobs = jobs_for_user(user=request.user).select_related(
            "project",
            "snapshot",
            "parent__project",
            "reward_model__project",
            "baseline__project",
            "model_version__project",
        )
        if project := request.query_params.get("project"):
            jobs = jobs.filter(project__slug=project)
        if job_status := request.query_params.get("status"):
            jobs = jobs.filter(status=job_status)
        if kind := request.query_params.get("kind"):
            jobs = jobs.filter(kind=kind)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(jobs, request, view=self)
        data = JobSerializer(page, many=True, context={"log_lines": 0}).data
        return paginator.get_paginated_response(data)

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
    def get(self, request: Request, job_id: int) -> Response:
        job = job_get_for_user(user=request.user, job_id=job_id)
        body = dict(JobSerializer(job).data)
        body["metrics"] = job_metric_series(job=job)
        return Response(body)


class JobCancel(APIView):
    def post(self, request: Request, job_id: int) -> Response:
        job = job_cancel(job=job_get_for_user(user=request.user, job_id=job_id))
        return Response(JobSerializer(job).data)


class JobRetry(APIView):
    def post(self, request: Request, job_id: int) -> Response:
        job = job_retry(job=job_get_for_user(user=request.user, job_id=job_id))
        return Response(JobSerializer(job).data)


class JobKinds(APIView):
    """Each job kind with its hyperparameters: defaults and documentation (for forms)."""

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
    def get(self, request: Request) -> Response:
        versions = models_for_user(user=request.user).select_related(
            "project", "parent__project", "snapshot"
        )
        for name in ("kind", "status"):
            if value := request.query_params.get(name):
                versions = versions.filter(**{name: value})
        if project := request.query_params.get("project"):
            versions = versions.filter(project__slug=project)
        paginator = NewestFirst()
        page = paginator.paginate_queryset(versions, request, view=self)
        return paginator.get_paginated_response(ModelVersionSerializer(page, many=True).data)


class ModelDetail(APIView):
    def get(self, request: Request, version_id: int) -> Response:
        version = model_get_for_user(user=request.user, version_id=version_id)
        return Response(ModelVersionSerializer(version).data)


class ModelPromote(APIView):
    def post(self, request: Request, version_id: int) -> Response:
        version = model_promote(
            version=model_get_for_user(user=request.user, version_id=version_id)
        )
        return Response(ModelVersionSerializer(version).data)


class ModelRollback(APIView):
    def post(self, request: Request) -> Response:
        payload = RollbackInput(data=request.data)
        payload.is_valid(raise_exception=True)
        project = training_project_get(user=request.user, slug=payload.validated_data["project"])
        version = model_rollback(project=project, kind=payload.validated_data["kind"])
        return Response(ModelVersionSerializer(version).data)


class ModelDownload(APIView):
    """The version's files (weights, tokenizer, config, card.json) as a streamed zip."""

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


class RetrainPolicyDetail(APIView):
    def get(self, request: Request, slug: str) -> Response:
        project = training_project_get(user=request.user, slug=slug)
        policy = RetrainPolicy.objects.filter(project=project).first() or RetrainPolicy(
            project=project
        )
        return Response(RetrainPolicySerializer(policy).data)

    def put(self, request: Request, slug: str) -> Response:
        project = training_project_get(user=request.user, slug=slug)
        payload = RetrainPolicySerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        policy = retrain_policy_save(project=project, **payload.validated_data)
        return Response(RetrainPolicySerializer(policy).data)


class RetrainCheckNow(APIView):
    """Run the threshold check now instead of waiting for beat."""

    def post(self, request: Request, slug: str) -> Response:
        project = training_project_get(user=request.user, slug=slug)
        run = retrain_check(project=project, launched_by=f"admin:{request.user.get_username()}")
        if run is None:
            return Response({"started": False, "run": None})
        return Response({"started": True, "run": _run_body(run)}, status=status.HTTP_201_CREATED)


def _run_body(run: RetrainRun) -> dict[str, Any]:
    return {
        "id": run.pk,
        "status": run.status,
        "stage": run.stage,
        "new_judgements": run.new_judgements,
        "snapshot": run.snapshot_id,
        "error": run.error,
    }
