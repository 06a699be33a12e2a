"""Launching, cancelling, retrying and reaping training jobs.

A job is validated completely here (kind, data, models, the engine's config) before
anything is queued, so bad input is a 400 naming the field and never a failed job.
The Celery message is sent only once the transaction that created the row commits.
"""

import dataclasses
import logging
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from core.errors import Conflict, ValidationError
from feedback.models import Project
from training import engine
from training.engine.config import build_config, class_schema
from training.models import (
    NEEDS_REWARD_MODEL,
    TRAIN_KINDS,
    DatasetSnapshot,
    JobKind,
    ModelVersion,
    RetrainRun,
    TrainingJob,
)
from training.selectors import base_model_default, model_promoted
from training.services.finish import job_finish
from training.services.snapshots import snapshot_create

logger = logging.getLogger(__name__)


def _invalid(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}: {reason}", details={field: [reason]})


def job_config_validate(*, kind: str, config: Any) -> dict[str, Any]:
    """The engine's config for ``kind`` built from ``config`` (None: defaults), as a JSON dict
    of every field; a bad or unknown field is a ValidationError naming ``config.<field>``."""
    if config is None:
        config = {}
    if not isinstance(config, Mapping):
        raise _invalid("config", "must be an object of hyperparameters")
    try:
        if kind in TRAIN_KINDS:
            given = {**_site_defaults(kind), **config}
            built: Any = engine.config_from_dict(kind, given)
        else:
            built = build_config(engine.GenerateConfig, dict(config))
    except engine.ConfigError as exc:
        raise _invalid(f"config.{exc.field}", str(exc)) from None
    return dataclasses.asdict(built)


def _site_defaults(kind: str) -> dict[str, Any]:
    """settings.TRAINING_DEFAULTS (FEEDBACK_TRAINING_DEFAULTS) for the fields ``kind`` has:
    the demo on SmolLM2 sets LoRA, a length and a step count there, so that a job started
    with the form's defaults finishes in minutes on a laptop CPU."""
    fields = engine.config_defaults(kind)
    return {k: v for k, v in settings.TRAINING_DEFAULTS.items() if k in fields}


def job_config_defaults(*, kind: str) -> dict[str, Any]:
    if kind in TRAIN_KINDS:
        return {**engine.config_defaults(kind), **_site_defaults(kind)}
    return dataclasses.asdict(engine.GenerateConfig())


def _version_check(
    version: ModelVersion | None, *, project: Project, kind: str, field: str
) -> ModelVersion | None:
    if version is None:
        return None
    if version.project_id != project.pk:
        raise _invalid(field, f"model version {version.pk} belongs to another project")
    if version.kind != kind:
        raise _invalid(field, f"model version {version.pk} is a {version.kind}, not a {kind}")
    return version


def job_create(
    *,
    project: Project,
    kind: str,
    launched_by: str,
    user: User | None = None,
    snapshot: DatasetSnapshot | None = None,
    snapshot_params: Mapping[str, object] | None = None,
    base_model: str = "",
    parent: ModelVersion | None = None,
    reward_model: ModelVersion | None = None,
    baseline: ModelVersion | None = None,
    config: Any = None,
    holdout_prompts: list[Any] | None = None,
    max_attempts: int | None = None,
    retrain_run: RetrainRun | None = None,
) -> TrainingJob:
    """Validate and queue a job. ``snapshot_params`` makes a fresh snapshot now (with the
    export parameters) instead of naming one. Without ``parent`` or ``base_model`` a
    training job starts from settings.BASE_MODEL; generate and evaluate use the promoted
    policy, a missing reward model defaults to the promoted one."""
    if kind not in JobKind.values:
        raise _invalid("kind", f"must be one of {', '.join(JobKind.values)}, not {kind!r}")
    values = job_config_validate(kind=kind, config=config)
    if max_attempts is None:
        max_attempts = settings.TRAINING_MAX_ATTEMPTS
    if max_attempts < 1:
        raise _invalid("max_attempts", "must be at least 1")

    parent_kind = "reward" if kind == "reward" else "policy"
    _version_check(parent, project=project, kind=parent_kind, field="parent")
    _version_check(reward_model, project=project, kind="reward", field="reward_model")
    _version_check(baseline, project=project, kind="policy", field="baseline")
    if parent is not None and base_model:
        raise _invalid("base_model", "give a parent model version or a base model, not both")

    if kind in TRAIN_KINDS:
        if snapshot is not None and snapshot_params is not None:
            raise _invalid("snapshot", "give a snapshot or snapshot parameters, not both")
        if snapshot is None and snapshot_params is None:
            raise _invalid("snapshot", "a training job needs a snapshot (or snapshot_params)")
        if snapshot is not None:
            if snapshot.project_id != project.pk:
                raise _invalid("snapshot", f"snapshot {snapshot.pk} belongs to another project")
            if snapshot.status != DatasetSnapshot.Status.READY:
                raise _invalid("snapshot", f"snapshot {snapshot.pk} is {snapshot.status}")
            if not snapshot.row_count:
                raise _invalid("snapshot", f"snapshot {snapshot.pk} holds no rows")
    elif snapshot is not None or snapshot_params is not None:
        raise _invalid("snapshot", f"a {kind} job reads no snapshot")

    if kind in ("generate", "evaluate") and parent is None:
        parent = model_promoted(project=project, kind="policy")
        if parent is None and kind == "evaluate":
            raise _invalid("parent", "name the policy to evaluate (there is no promoted one)")
    if kind in NEEDS_REWARD_MODEL and reward_model is None:
        reward_model = model_promoted(project=project, kind="reward")
        if reward_model is None:
            raise _invalid(
                "reward_model", f"a {kind} job needs a reward model and none is promoted"
            )
    if kind not in NEEDS_REWARD_MODEL and reward_model is not None:
        raise _invalid("reward_model", f"a {kind} job uses no reward model")
    if kind == "evaluate" and baseline is None:
        baseline = model_promoted(project=project, kind="policy")
        if baseline is not None and parent is not None and baseline.pk == parent.pk:
            raise _invalid("parent", "the policy to evaluate is the promoted one")
    if parent is None and not base_model:
        base_model = base_model_default()

    with transaction.atomic():
        if snapshot_params is not None:
            snapshot = snapshot_create(project=project, params=snapshot_params, user=user)
            if not snapshot.row_count:
                raise _invalid("snapshot_params", "the export with these parameters is empty")
        job = TrainingJob.objects.create(
            kind=kind,
            project=project,
            snapshot=snapshot,
            base_model=base_model,
            parent=parent,
            reward_model=reward_model,
            baseline=baseline,
            config=values,
            holdout_prompts=list(holdout_prompts or []),
            max_attempts=max_attempts,
            launched_by=launched_by,
            created_by=user if user is not None and user.is_authenticated else None,
            retrain_run=retrain_run,
        )
        job_enqueue(job=job)
    logger.info("queued %s job %s for %s (%s)", kind, job.pk, project.slug, launched_by)
    return job


def job_time_limits(*, kind: str) -> tuple[int, int]:
    """(soft, hard) time limits of a job kind, in seconds."""
    soft = int(settings.TRAINING_TIME_LIMITS[kind])
    return soft, soft + int(settings.TRAINING_HARD_LIMIT_GRACE)


def job_enqueue(*, job: TrainingJob) -> None:
    """Send the job's message to the gpu queue once the current transaction commits."""
    # A service names a task only where it sends one; training.tasks imports the services
    # inside its task functions (HackSoft's Celery guidance), so neither loads the other.
    from training.tasks import job_run

    soft, hard = job_time_limits(kind=job.kind)
    job_id = job.pk
    transaction.on_commit(
        lambda: job_run.apply_async(args=(job_id,), soft_time_limit=soft, time_limit=hard)
    )


def job_cancel(*, job: TrainingJob) -> TrainingJob:
    """A queued job is cancelled at once; a running one is asked to stop (its training
    loop reads the flag and stops cleanly). A finished job is a Conflict."""
    with transaction.atomic():
        if job_finish(
            job_id=job.pk,
            status=TrainingJob.Status.CANCELLED,
            expect=TrainingJob.Status.QUEUED,
            fields={"cancel_requested": True},
        ):
            job.refresh_from_db()
            return job
        if not TrainingJob.objects.filter(pk=job.pk, status=TrainingJob.Status.RUNNING).update(
            cancel_requested=True
        ):
            job.refresh_from_db()
            raise Conflict(f"Job {job.pk} has already {job.status}; there is nothing to cancel.")
    job.refresh_from_db()
    return job


def job_retry(*, job: TrainingJob) -> TrainingJob:
    """Queue a failed or cancelled job again, with fresh attempts. It resumes from its last
    checkpoint, if it wrote one."""
    with transaction.atomic():
        updated = TrainingJob.objects.filter(
            pk=job.pk, status__in=[TrainingJob.Status.FAILED, TrainingJob.Status.CANCELLED]
        ).update(
            status=TrainingJob.Status.QUEUED,
            attempts=0,
            cancel_requested=False,
            error="",
            finished_at=None,
            heartbeat_at=None,
        )
        job.refresh_from_db()
        if not updated:
            raise Conflict(f"Job {job.pk} is {job.status}; only failed or cancelled jobs retry.")
        job_enqueue(job=job)
    return job


def jobs_reap(*, now: datetime | None = None) -> list[int]:
    """Find running jobs whose heartbeat stopped (worker killed, machine rebooted) and
    re-queue them to resume from their last checkpoint, or fail them once they have used
    all their attempts. Returns the ids it touched."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.TRAINING_STALE_AFTER_SECONDS)
    touched: list[int] = []
    with transaction.atomic():
        stale = (
            TrainingJob.objects.select_for_update(skip_locked=True)
            .filter(status=TrainingJob.Status.RUNNING)
            .filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True))
            .order_by("id")
        )
        for job in stale:
            silent_since = job.heartbeat_at.isoformat() if job.heartbeat_at else "its start"
            if job.attempts >= job.max_attempts:
                error = (
                    f"The worker stopped responding (no heartbeat since {silent_since}) "
                    f"and the job has used all {job.max_attempts} attempts."
                )
                job_finish(job_id=job.pk, status=TrainingJob.Status.FAILED, error=error)
                logger.warning("job %s failed: %s", job.pk, error)
            else:
                job.status = TrainingJob.Status.QUEUED
                job.heartbeat_at = None
                job.log_tail = _log_append(
                    job.log_tail,
                    f"[{now:%H:%M:%S}] no heartbeat since {silent_since}: re-queued "
                    f"(attempt {job.attempts} of {job.max_attempts} was lost)",
                )
                job.save(update_fields=["status", "heartbeat_at", "log_tail"])
                job_enqueue(job=job)
                logger.warning("job %s lost its worker; re-queued", job.pk)
            touched.append(job.pk)
    return touched


def _log_append(tail: str, line: str) -> str:
    lines = [*tail.splitlines(), line]
    return "\n".join(lines[-settings.TRAINING_LOG_LINES :])


def job_config_schema(*, kind: str) -> list[dict[str, Any]]:
    """[{name, type, default, help, ...bounds}] of a kind's hyperparameters (for forms)."""
    if kind in TRAIN_KINDS:
        site = _site_defaults(kind)
        return [
            {**field, "default": site[field["name"]]} if field["name"] in site else field
            for field in engine.config_schema(kind)
        ]
    return class_schema(engine.GenerateConfig)
