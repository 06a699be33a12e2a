"""Pages of the training app: launch jobs, watch them, manage the model registry.

Thin doors like the API: the same selectors scope every query (annotators get 404), the
same services act. The pages poll the JSON API for live progress (static/training/*.js).
"""

import json
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NotFound, PermissionDenied, ValidationError
from feedback.export import FORMATS
from training.models import (
    NEEDS_REWARD_MODEL,
    TRAIN_KINDS,
    DatasetSnapshot,
    JobKind,
    ModelVersion,
    TrainingJob,
)
from training.selectors import (
    job_get_for_user,
    jobs_for_user,
    model_get_for_user,
    model_lineage,
    models_for_user,
    training_project_get,
    training_projects_for_user,
)
from training.services import job_cancel, job_create, job_retry, model_promote, model_rollback
from training.services.jobs import job_config_schema


def _or_404(error: ApplicationError) -> None:
    if isinstance(error, NotFound | PermissionDenied):
        raise Http404(error.message)


@login_required
def job_list(request: HttpRequest) -> HttpResponse:
    projects = training_projects_for_user(user=request.user)
    if not projects.exists():
        raise Http404("No project whose training you manage.")
    jobs = jobs_for_user(user=request.user).select_related("project")
    slug = request.GET.get("project", "")
    if slug:
        jobs = jobs.filter(project__slug=slug)
    return render(
        request,
        "training/job_list.html",
        {"jobs": jobs[:100], "projects": projects, "project": slug},
    )


def _form_config(post: Any, kind: str) -> dict[str, object]:
    """The hyperparameters the form sent for ``kind`` (blank fields keep the defaults)."""
    values: dict[str, object] = {}
    for field in job_config_schema(kind=kind):
        name = field["name"]
        key = f"config-{kind}-{name}"
        if field["type"] == "bool":
            values[name] = key in post
            continue
        raw = post.get(key, "").strip()
        if raw == "":
            continue
        values[name] = None if raw.lower() in ("none", "null") else raw
    return values


@login_required
def job_new(request: HttpRequest) -> HttpResponse:
    projects = training_projects_for_user(user=request.user)
    if not projects.exists():
        raise Http404("No project whose training you manage.")
    errors: dict[str, Any] = {}
    if request.method == "POST":
        post = request.POST
        kind = post.get("kind", "")
        try:
            project = training_project_get(user=request.user, slug=post.get("project", ""))
            snapshot = None
            snapshot_params: dict[str, object] | None = None
            if kind in JobKind.values and kind not in ("generate", "evaluate"):
                if post.get("fresh_snapshot"):
                    snapshot_params = {
                        k[len("export-") :]: v
                        for k, v in post.items()
                        if k.startswith("export-") and isinstance(v, str) and v.strip()
                    }
                elif post.get("snapshot"):
                    snapshot = DatasetSnapshot.objects.filter(
                        project=project, pk=_int(post.get("snapshot"), "snapshot")
                    ).first()
                    if snapshot is None:
                        raise ValidationError(
                            "snapshot: not in this project",
                            details={"snapshot": ["not in this project"]},
                        )
            versions = ModelVersion.objects.filter(project=project)

            def version(name: str) -> ModelVersion | None:
                value = post.get(name)
                return versions.filter(pk=_int(value, name)).first() if value else None

            base_model = post.get("base_model", "").strip() if request.user.is_staff else ""
            job = job_create(
                project=project,
                kind=kind,
                launched_by=f"admin:{request.user.get_username()}",
                user=request.user,  # type: ignore[arg-type]
                snapshot=snapshot,
                snapshot_params=snapshot_params,
                base_model=base_model,
                config=_form_config(post, kind) if kind in JobKind.values else None,
                parent=version("parent"),
                reward_model=version("reward_model"),
                baseline=version("baseline"),
            )
        except ApplicationError as exc:
            errors = exc.details if isinstance(exc.details, dict) else {"form": [exc.message]}
            messages.error(request, exc.message)
        else:
            messages.success(request, f"Queued {job.kind} job {job.pk}.")
            return redirect("training-job", job_id=job.pk)
    kinds = [
        {"value": value, "label": label, "schema": job_config_schema(kind=value)}
        for value, label in JobKind.choices
    ]
    return render(
        request,
        "training/job_new.html",
        {
            "projects": projects,
            "kinds": kinds,
            "train_kinds": " ".join(TRAIN_KINDS),
            "reward_model_kinds": " ".join(NEEDS_REWARD_MODEL),
            "snapshots": DatasetSnapshot.objects.filter(
                project__in=projects, status="ready"
            ).select_related("project")[:200],
            "versions": ModelVersion.objects.filter(project__in=projects).select_related("project")[
                :200
            ],
            "formats": FORMATS,
            "errors": errors,
            "post": request.POST if request.method == "POST" else {},
            "base_model": settings.BASE_MODEL,
        },
    )


def _int(value: Any, field: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValidationError(f"{field}: not a number", details={field: ["not a number"]}) from None


@login_required
def job_detail(request: HttpRequest, job_id: int) -> HttpResponse:
    try:
        job = job_get_for_user(user=request.user, job_id=job_id)
    except NotFound as exc:
        raise Http404(exc.message) from exc
    version = ModelVersion.objects.filter(job=job).select_related("project").first()
    lineage = (
        model_lineage(version=version)
        if version
        else (model_lineage(version=job.parent) if job.parent else [])
    )
    return render(
        request,
        "training/job_detail.html",
        {
            "job": job,
            "version": version,
            "lineage": lineage,
            "config_json": json.dumps(job.config, indent=2),
            "result_json": json.dumps(job.result, indent=2),
            "finished": job.status in TrainingJob.FINISHED,
        },
    )


@login_required
@require_POST
def job_action(request: HttpRequest, job_id: int, action: str) -> HttpResponse:
    try:
        job = job_get_for_user(user=request.user, job_id=job_id)
        if action == "cancel":
            job_cancel(job=job)
            messages.success(request, f"Asked job {job.pk} to stop.")
        elif action == "retry":
            job_retry(job=job)
            messages.success(request, f"Queued job {job.pk} again.")
        elif action == "promote":
            version = ModelVersion.objects.filter(job=job).first()
            if version is None:
                raise ValidationError("This job made no model version.")
            model_promote(version=version)
            messages.success(request, f"Promoted {version.label}.")
        else:
            raise Http404("No such action.")
    except ApplicationError as exc:
        _or_404(exc)
        messages.error(request, exc.message)
    return redirect("training-job", job_id=job_id)


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    projects = training_projects_for_user(user=request.user)
    if not projects.exists():
        raise Http404("No project whose training you manage.")
    versions = list(
        models_for_user(user=request.user)
        .select_related("project", "parent__project", "snapshot", "job")
        .order_by("project__name", "kind", "-number")[:300]
    )
    return render(request, "training/model_list.html", {"versions": versions, "projects": projects})


@login_required
@require_POST
def model_action(request: HttpRequest, version_id: int, action: str) -> HttpResponse:
    try:
        version = model_get_for_user(user=request.user, version_id=version_id)
        if action == "promote":
            model_promote(version=version)
            messages.success(request, f"Promoted {version.label}.")
        elif action == "rollback":
            project = training_project_get(user=request.user, slug=version.project.slug)
            restored = model_rollback(project=project, kind=version.kind)
            messages.success(request, f"Rolled back to {restored.label}.")
        else:
            raise Http404("No such action.")
    except ApplicationError as exc:
        _or_404(exc)
        messages.error(request, exc.message)
    return redirect("training-models")
