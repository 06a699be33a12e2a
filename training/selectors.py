"""Reads of the training app.

Snapshots are scoped by the projects a user may export from (``projects_for_user`` with the
exporting roles). Training jobs and models are for project admins (and staff):
``training_projects_for_user`` is the one answer to "may this user launch, watch, cancel or
download here?", and every queryset of jobs and model versions is scoped by it."""

from pathlib import Path

from django.conf import settings
from django.db.models import Count, Exists, OuterRef, QuerySet

from core.errors import NotFound
from feedback.access import EXPORTING_ROLES, MANAGING_ROLES, User, project_access
from feedback.models import Item, Judgement, Project
from feedback.selectors import projects_for_user
from training.models import DatasetSnapshot, JobMetric, ModelVersion, RetrainRun, TrainingJob


def snapshots_for_user(*, user: User, project: Project | None = None) -> QuerySet[DatasetSnapshot]:
    """Snapshots of the projects ``user`` may export from (staff: all)."""
    projects = projects_for_user(user=user, roles=EXPORTING_ROLES)
    snapshots = DatasetSnapshot.objects.filter(project__in=projects.values("pk"))
    if project is not None:
        snapshots = snapshots.filter(project=project)
    return snapshots.select_related("project", "created_by")


def snapshot_get_for_user(*, user: User, project: Project, snapshot_id: int) -> DatasetSnapshot:
    snapshot = snapshots_for_user(user=user, project=project).filter(pk=snapshot_id).first()
    if snapshot is None:
        raise NotFound(f"No snapshot {snapshot_id} in project '{project.slug}'.")
    return snapshot


TRAINING_DENIED = "Only the project's admins may manage its training."


def training_projects_for_user(*, user: User) -> QuerySet[Project]:
    """Projects whose training ``user`` may manage: all for staff, else those they administer."""
    return projects_for_user(user=user, roles=MANAGING_ROLES)


def training_project_default(*, projects: QuerySet[Project]) -> Project | None:
    """The project a new job form starts on: the first by name that has judgements (a form
    opened on a project nobody judged can only say its snapshot would be empty)."""
    judged = Exists(Judgement.objects.filter(item__project=OuterRef("pk")))
    return projects.annotate(judged=judged).order_by("-judged", "name").first()


def training_project_get(*, user: User, slug: str) -> Project:
    """The project ``slug`` if ``user`` administers it, through the project door: a member
    without the admin role gets PermissionDenied (they know the project exists); anyone
    else gets NotFound. For a slug named in a body or form; views under
    /api/projects/<slug>/ derive from ``feedback.api.base.ProjectView`` instead."""
    return project_access(
        user=user, slug=slug, roles=MANAGING_ROLES, denied=TRAINING_DENIED
    ).project


def jobs_for_user(*, user: User) -> QuerySet[TrainingJob]:
    return TrainingJob.objects.filter(project__in=training_projects_for_user(user=user))


def job_get_for_user(*, user: User, job_id: int) -> TrainingJob:
    job = (
        jobs_for_user(user=user)
        .select_related(
            "project", "snapshot", "parent", "reward_model", "baseline", "created_by", "retrain_run"
        )
        .filter(pk=job_id)
        .first()
    )
    if job is None:
        raise NotFound(f"No training job {job_id}.")
    return job


def models_for_user(*, user: User) -> QuerySet[ModelVersion]:
    return ModelVersion.objects.filter(project__in=training_projects_for_user(user=user))


def model_get_for_user(*, user: User, version_id: int) -> ModelVersion:
    version = (
        models_for_user(user=user)
        .select_related("project", "parent", "snapshot", "job")
        .filter(pk=version_id)
        .first()
    )
    if version is None:
        raise NotFound(f"No model version {version_id}.")
    return version


def model_promoted(*, project: Project, kind: str) -> ModelVersion | None:
    return ModelVersion.objects.filter(project=project, kind=kind, status="promoted").first()


def model_lineage(*, version: ModelVersion) -> list[ModelVersion]:
    """The version, its parent, its parent's parent... (oldest last)."""
    chain = [version]
    seen = {version.pk}
    current = version
    while current.parent_id is not None and current.parent_id not in seen:
        parent = ModelVersion.objects.select_related("snapshot", "project").get(
            pk=current.parent_id
        )
        chain.append(parent)
        seen.add(parent.pk)
        current = parent
    return chain


def job_metric_series(*, job: TrainingJob) -> dict[str, list[list[float]]]:
    """Metrics of a job as curves: {name: [[step, value], ...]} in step order."""
    series: dict[str, list[list[float]]] = {}
    rows = (
        JobMetric.objects.filter(job=job)
        .order_by("step", "id")
        .values_list("name", "step", "value")
    )
    for name, step, value in rows:
        series.setdefault(name, []).append([step, value])
    return series


def items_needing_responses(*, project: Project) -> QuerySet[Item]:
    """Items with fewer candidate responses than the project asks for (generation fills them)."""
    return (
        Item.objects.filter(project=project)
        .annotate(response_count=Count("responses"))
        .filter(response_count__lt=project.responses_per_item)
        .order_by("id")
    )


def retrain_run_running(*, project: Project) -> RetrainRun | None:
    return RetrainRun.objects.filter(project=project, status="running").first()


def retrain_runs_recent(*, project: Project, limit: int = 10) -> QuerySet[RetrainRun]:
    """The project's latest retrain runs, newest first, with their reward and policy models."""
    return RetrainRun.objects.filter(project=project).select_related(
        "project", "reward_version__project", "policy_version__project"
    )[:limit]


def job_truncation(*, job: TrainingJob) -> dict[str, int] | None:
    """What the engine's length rule did to a finished reward job's pairs (train and held
    out together): ``truncated`` (the prompt lost its start to fit ``max_length``) and
    ``could_not_fit`` (the response alone was longer, so it was cut too; nothing is
    dropped). None for jobs whose engine reports no such counts."""
    result = job.result or {}
    if "truncated_rows" not in result:
        return None
    max_length = result.get("truncation_max_length")  # the config's, capped by the model
    if max_length is None and isinstance(job.config, dict):
        max_length = job.config.get("max_length")
    return {
        "truncated": int(result.get("truncated_rows", 0)),
        "could_not_fit": int(result.get("response_truncated_rows", 0)),
        "dropped": int(result.get("dropped_rows", 0)),
        "max_length": int(max_length) if isinstance(max_length, (int, float)) else 0,
    }


def base_model_default() -> str:
    return str(settings.BASE_MODEL)


def base_models_available() -> list[str]:
    """The base models a job can start from: settings.BASE_MODEL first, then each model
    imported into BASE_MODELS_DIR (``manage.py import_model``), by name. A folder being
    written (a dot-name) or without a config.json is not one."""
    found = [base_model_default()]
    folder = Path(settings.BASE_MODELS_DIR)
    if folder.is_dir():
        for path in sorted(folder.iterdir()):
            usable = not path.name.startswith(".") and (path / "config.json").is_file()
            if usable and str(path) not in found:
                found.append(str(path))
    return found
