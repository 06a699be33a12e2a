"""The "New job" page's form: what was typed, what may be chosen, and every error at once.

``job_form_submit`` checks each part of the form on its own (project, data, models, each
hyperparameter) so that the page lists every problem in one answer, in words, next to its
field; only a form with none goes to ``job_create``, which stays the one place that
decides (its refusal, if any, is shown the same way). Nothing typed is lost on an error.
"""

import re
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.models import User
from django.http import QueryDict

from core.errors import ApplicationError, NotFound, PermissionDenied, ValidationError
from feedback.export.params import export_params_parse
from feedback.models import Project
from training.models import TRAIN_KINDS, DatasetSnapshot, JobKind, ModelVersion, TrainingJob
from training.selectors import training_project_get
from training.services import job_create
from training.services.jobs import job_config_schema, job_config_validate

EXPORT_FIELDS = ("format", "pairs", "ties", "aggregate", "min_agreement", "source")
LABELS = {
    "project": "Project",
    "kind": "Kind",
    "snapshot": "Snapshot",
    "snapshot_params": "Fresh snapshot",
    "parent": "Start from",
    "reward_model": "Reward model",
    "baseline": "Baseline",
    "base_model": "Base model",
    "form": "Form",
}


def field_label(name: str) -> str:
    """``config.max_steps`` -> "max steps"; ``export-min_agreement`` -> "min agreement"."""
    if name in LABELS:
        return LABELS[name]
    bare = name.split(".", 1)[-1].split("-", 1)[-1]
    return bare.replace("_", " ")


def _reason(name: str, reason: str) -> str:
    """The reason without the field's name repeated in front ("max_steps: must be...")."""
    bare = name.split(".", 1)[-1]
    return re.sub(rf"^{re.escape(bare)}:\s*", "", str(reason))


@dataclass
class FormErrors:
    by_field: dict[str, list[str]] = field(default_factory=dict)

    def add(self, name: str, reason: str) -> None:
        self.by_field.setdefault(name, []).append(_reason(name, reason))

    def add_error(self, error: ApplicationError, *, prefix: str = "") -> None:
        # Only a ValidationError's details are reasons by field; a Conflict's (an empty
        # snapshot's parameters, say) are context, and its message says what is wrong.
        details = error.details if isinstance(error, ValidationError) else None
        if not isinstance(details, dict) or not details:
            self.add(prefix or "form", error.message)
            return
        for name, reasons in details.items():
            for reason in reasons if isinstance(reasons, list) else [reasons]:
                self.add(f"{prefix}{name}" if prefix else name, str(reason))

    def listed(self) -> list[tuple[str, str, str]]:
        """(field, label, reason) for every problem, in the order they were found."""
        return [(n, field_label(n), r) for n, reasons in self.by_field.items() for r in reasons]

    def __bool__(self) -> bool:
        return bool(self.by_field)


@dataclass
class JobFormResult:
    job: TrainingJob | None
    errors: FormErrors


def _int(post: QueryDict, name: str, errors: FormErrors) -> int | None:
    raw = (post.get(name) or "").strip()
    if not raw:
        return None
    if not raw.isdigit():
        errors.add(name, "choose one from the list")
        return None
    return int(raw)


def form_config(post: QueryDict, kind: str) -> dict[str, object]:
    """The hyperparameters the form sent for ``kind`` (blank fields keep the defaults)."""
    values: dict[str, object] = {}
    for spec in job_config_schema(kind=kind):
        name = spec["name"]
        key = f"config-{kind}-{name}"
        if spec["type"] == "bool":
            values[name] = key in post  # the box starts as the default says
            continue
        raw = (post.get(key) or "").strip()
        if raw == "":
            continue
        values[name] = None if raw.lower() in ("none", "null") else raw
    return values


def job_form_submit(*, user: User, post: QueryDict) -> JobFormResult:
    errors = FormErrors()
    kind = post.get("kind", "")
    if kind not in JobKind.values:
        errors.add("kind", "choose a kind of job")
    project: Project | None = None
    try:
        project = training_project_get(user=user, slug=post.get("project", ""))
    except (NotFound, PermissionDenied):
        errors.add("project", "choose one of your projects")

    config: dict[str, object] = {}
    if kind in JobKind.values:
        config = form_config(post, kind)
        for name, value in config.items():  # one by one: every bad value is listed
            try:
                job_config_validate(kind=kind, config={name: value})
            except ApplicationError as error:
                errors.add_error(error)
        if not any(name.startswith("config.") for name in errors.by_field):
            try:
                job_config_validate(kind=kind, config=config)  # values that clash
            except ApplicationError as error:
                errors.add_error(error)

    snapshot: DatasetSnapshot | None = None
    snapshot_params: dict[str, object] | None = None
    if kind in TRAIN_KINDS:
        if post.get("fresh_snapshot"):
            snapshot_params = {
                name: value
                for name in EXPORT_FIELDS
                if (value := (post.get(f"export-{name}") or "").strip())
            }
            try:
                export_params_parse(snapshot_params)
            except ApplicationError as error:
                errors.add_error(error, prefix="export-")
        else:
            snapshot_id = _int(post, "snapshot", errors)
            if snapshot_id is None and "snapshot" not in errors.by_field:
                errors.add("snapshot", "choose a snapshot, or tick 'make a fresh snapshot now'")
            elif snapshot_id is not None and project is not None:
                snapshot = DatasetSnapshot.objects.filter(project=project, pk=snapshot_id).first()
                if snapshot is None:
                    errors.add("snapshot", "that snapshot is not one of this project's")

    versions: dict[str, ModelVersion | None] = {}
    for name in ("parent", "reward_model", "baseline"):
        pk = _int(post, name, errors)
        versions[name] = None
        if pk is not None and project is not None:
            versions[name] = ModelVersion.objects.filter(project=project, pk=pk).first()
            if versions[name] is None:
                errors.add(name, "that model version is not one of this project's")
    base_model = (post.get("base_model") or "").strip() if user.is_staff else ""

    if errors or project is None:
        return JobFormResult(job=None, errors=errors)
    try:
        job = job_create(
            project=project,
            kind=kind,
            launched_by=f"admin:{user.get_username()}",
            user=user,
            snapshot=snapshot,
            snapshot_params=snapshot_params,
            base_model=base_model,
            config=config,
            parent=versions["parent"],
            reward_model=versions["reward_model"],
            baseline=versions["baseline"],
        )
    except ApplicationError as error:
        errors.add_error(error)
        return JobFormResult(job=None, errors=errors)
    return JobFormResult(job=job, errors=errors)


def job_form_options(*, projects: Any) -> dict[str, Any]:
    """What the form offers: snapshots and versions by project (the page script shows
    those of the chosen project, and of the kind that fits the chosen job)."""
    snapshots = list(
        DatasetSnapshot.objects.filter(project__in=projects, status="ready", row_count__gt=0)
        .select_related("project")
        .order_by("-created_at")[:200]
    )
    versions = list(
        ModelVersion.objects.filter(project__in=projects)
        .exclude(status=ModelVersion.Status.ARCHIVED)
        .select_related("project")
        .order_by("-created_at")[:200]
    )
    latest: dict[int, int] = {}
    for snapshot in snapshots:
        latest.setdefault(snapshot.project_id, snapshot.pk)
    return {"snapshots": snapshots, "versions": versions, "latest_snapshot": latest}
