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
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST

from core.errors import ApplicationError, NotFound, PermissionDenied, ValidationError
from feedback.export.params import AGGREGATES, FORMATS, PAIR_MODES, SOURCES, TIE_MODES
from training.job_form import FormErrors, job_form_options, job_form_submit
from training.models import NEEDS_REWARD_MODEL, TRAIN_KINDS, JobKind, ModelVersion, TrainingJob
from training.registry_view import NODE_H, registry_rows
from training.selectors import (
    base_models_available,
    job_get_for_user,
    job_truncation,
    jobs_for_user,
    model_get_for_user,
    model_lineage,
    models_for_user,
    training_project_default,
    training_project_get,
    training_projects_for_user,
)
from training.services import job_cancel, job_retry, model_promote, model_rollback
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


@login_required
def job_new(request: HttpRequest) -> HttpResponse:
    """The "New job" form (training/job_form.py): every error at once, nothing retyped."""
    projects = training_projects_for_user(user=request.user)
    if not projects.exists():
        raise Http404("No project whose training you manage.")
    errors = FormErrors()
    typed: dict[str, Any] = {}
    if request.method == "POST":
        result = job_form_submit(user=request.user, post=request.POST)  # type: ignore[arg-type]
        if result.job is not None:
            messages.success(request, f"Queued {result.job.kind} job {result.job.pk}.")
            return redirect("training-job", job_id=result.job.pk)
        errors = result.errors
        typed = request.POST.dict()
    else:
        first = training_project_default(projects=projects)
        typed = {"project": request.GET.get("project") or (first.slug if first else "")}
        typed["kind"] = request.GET.get("kind", "reward")
    kinds = [
        {"value": value, "label": label, "schema": job_config_schema(kind=value)}
        for value, label in JobKind.choices
    ]
    options = job_form_options(projects=projects)
    if request.method != "POST":
        # Defaults that run: the project's latest snapshot, or a fresh one when it has none.
        chosen = projects.filter(slug=typed["project"]).first()
        latest = options["latest_snapshot"].get(chosen.pk) if chosen else None
        if latest:
            typed["snapshot"] = str(latest)
        else:
            typed["fresh_snapshot"] = "1"
    return render(
        request,
        "training/job_new.html",
        {
            "projects": projects.order_by("name"),
            "kinds": kinds,
            "train_kinds": " ".join(TRAIN_KINDS),
            "reward_model_kinds": " ".join(NEEDS_REWARD_MODEL),
            **options,
            "formats": FORMATS,
            "pair_modes": PAIR_MODES,
            "tie_modes": TIE_MODES,
            "aggregates": AGGREGATES,
            "sources": SOURCES,
            "errors": errors.by_field,
            "error_list": errors.listed(),
            "typed": typed,
            "posted": request.method == "POST",
            "base_model": settings.BASE_MODEL,
            "base_models": base_models_available() if request.user.is_staff else [],
        },
    )


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
            "duration": _duration(job),
            "truncation": job_truncation(job=job),
        },
    )


def _duration(job: TrainingJob) -> str:
    if job.started_at is None:
        return ""
    end = job.finished_at or timezone.now()
    seconds = max(0, round((end - job.started_at).total_seconds()))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    text = (f"{hours} h " if hours else "") + (f"{minutes} min " if hours or minutes else "")
    return f"{text}{secs} s" + ("" if job.finished_at else " so far")


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
    projects = training_projects_for_user(user=request.user).order_by("name")
    if not projects.exists():
        raise Http404("No project whose training you manage.")
    slug = request.GET.get("project", "")
    versions = models_for_user(user=request.user).select_related(
        "project", "parent__project", "snapshot", "job"
    )
    if slug:
        versions = versions.filter(project__slug=slug)
    rows = registry_rows(list(versions.order_by("project__name", "kind", "-number")[:300]))
    return render(
        request,
        "training/model_list.html",
        {"rows": rows, "projects": projects, "project": slug, "node_h": NODE_H},
    )


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
    back = request.POST.get("next", "")
    if back.startswith("?project="):
        return redirect(f"{reverse('training-models')}{back}")
    return redirect("training-models")
