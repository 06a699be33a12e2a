"""The model registry: versions made by jobs, promotion and rollback.

One promoted policy and one promoted reward model per project is a database constraint
(a partial unique index); promotion archives the previous one in the same transaction.
"""

import logging
import math
from pathlib import Path
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from core.errors import Conflict
from feedback.models import Project
from training.artifacts import artifact_relative
from training.models import ModelVersion, TrainingJob

logger = logging.getLogger(__name__)


def model_version_create(
    *, job: TrainingJob, model_dir: Path, metrics: dict[str, Any]
) -> ModelVersion:
    """The version a training job made; a second call for the same job returns the first
    (one version per job, however many times it was delivered or retried). Call inside
    the transaction that finishes the job."""
    existing = ModelVersion.objects.filter(job=job).first()
    if existing is not None:
        return existing
    kind = ModelVersion.Kind.REWARD if job.kind == "reward" else ModelVersion.Kind.POLICY
    # Lock the project row so that two jobs finishing together get distinct numbers.
    Project.objects.select_for_update().filter(pk=job.project_id).first()
    last = ModelVersion.objects.filter(project_id=job.project_id, kind=kind).aggregate(
        n=Max("number")
    )["n"]
    parent = job.parent
    return ModelVersion.objects.create(
        **(_heldout_fields(metrics) if kind == ModelVersion.Kind.REWARD else {}),
        project_id=job.project_id,
        kind=kind,
        number=(last or 0) + 1,
        parent=parent,
        base_model=parent.base_model if parent is not None else job.base_model,
        job=job,
        snapshot=job.snapshot,
        method=job.kind,
        artifact_path=artifact_relative(model_dir),
        metrics=metrics,
    )


def _heldout_fields(metrics: dict[str, Any]) -> dict[str, Any]:
    """A reward model's held-out accuracy and interval, from the engine's metrics (absent
    when the run held out no pairs: such a model cannot pass the retrain gate)."""
    figures: list[float] = []
    for end in ("", "_low", "_high", "_n"):
        value = metrics.get(f"heldout_accuracy{end}")
        if not isinstance(value, (int, float)) or not math.isfinite(value):
            return {}
        figures.append(float(value))
    accuracy, low, high, n = figures
    return {
        "heldout_accuracy": accuracy,
        "heldout_accuracy_low": low,
        "heldout_accuracy_high": high,
        "heldout_pairs": int(n),
    }


@transaction.atomic
def model_promote(*, version: ModelVersion) -> ModelVersion:
    """Make ``version`` the project's promoted model of its kind; the one promoted before
    becomes archived. Promoting the promoted version changes nothing."""
    list(
        ModelVersion.objects.select_for_update()
        .filter(project_id=version.project_id, kind=version.kind)
        .order_by("id")
        .values_list("id", flat=True)
    )
    version.refresh_from_db()
    if version.status == ModelVersion.Status.PROMOTED:
        return version
    ModelVersion.objects.filter(
        project_id=version.project_id, kind=version.kind, status=ModelVersion.Status.PROMOTED
    ).update(status=ModelVersion.Status.ARCHIVED)
    version.status = ModelVersion.Status.PROMOTED
    version.promoted_at = timezone.now()
    version.save(update_fields=["status", "promoted_at"])
    logger.info("promoted %s", version.label)
    if version.kind == ModelVersion.Kind.REWARD:
        # The uncertainty policy's margins are the promoted reward model's: score again.
        from training.services.uncertainty import uncertainty_score_later

        uncertainty_score_later(project=version.project)
    return version


@transaction.atomic
def model_rollback(*, project: Project, kind: str) -> ModelVersion:
    """Archive the promoted model of ``kind`` and promote again the one that was promoted
    before it. Conflict when nothing is promoted or nothing was promoted before."""
    versions = list(
        ModelVersion.objects.select_for_update().filter(project=project, kind=kind).order_by("id")
    )
    current = next((v for v in versions if v.status == ModelVersion.Status.PROMOTED), None)
    if current is None or current.promoted_at is None:
        raise Conflict(f"No {kind} model is promoted in {project.slug}; nothing to roll back.")
    earlier = [
        v
        for v in versions
        if v.status == ModelVersion.Status.ARCHIVED
        and v.promoted_at is not None
        and v.promoted_at < current.promoted_at
    ]
    if not earlier:
        raise Conflict(
            f"{current.label} is the first promoted {kind} model; nothing to roll back to."
        )
    previous = max(earlier, key=lambda v: (v.promoted_at, v.pk))
    current.status = ModelVersion.Status.ARCHIVED
    current.save(update_fields=["status"])
    # promoted_at keeps the first promotion time, so a second rollback goes further back.
    previous.status = ModelVersion.Status.PROMOTED
    previous.save(update_fields=["status"])
    logger.info("rolled %s back from %s to %s", kind, current.label, previous.label)
    return previous
