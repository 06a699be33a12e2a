"""The loop: when enough new human judgements have arrived, retrain and maybe promote.

A run for a project goes through stages, each a job on the gpu queue. The loop listens to
job ends: ``job_finish`` (training.services.finish) queues ``retrain_advance`` once a run's
job has ended, and the project's periodic check advances a run whose message was lost.
``retrain_advance`` reads the run's stage and the job of that stage, so a second advance
finds nothing to do. Each stage's transition is its own function:

1. snapshot (synchronous, here) and a reward model trained on it from the base model;
2. a policy (the project's method: DPO, PPO, GRPO or RLOO) from the promoted policy
   (or the base model), trained without the held-out prompts;
3. an ``evaluate`` job: the new policy against the promoted one (or the base model) on the
   held-out prompts, judged by the new reward model;
4. the new reward model is promoted (it is the judge that saw the most feedback); the new
   policy only if its win rate reaches the policy's threshold. After a promotion, a
   ``generate`` job fills items that lack candidates.

A reward model whose held-out accuracy's 95% interval includes 0.5 (or lies below it)
judges nothing: after stage 1 such a run stops (status ``stopped``, the reason in
``error``); no policy is trained and nothing is promoted.

Beat calls ``retrain_check`` per project (a django-celery-beat PeriodicTask, editable in
the admin); one run at a time per project is a database constraint.
"""

import hashlib
import json
import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_celery_beat.models import IntervalSchedule, PeriodicTask

from core.errors import ApplicationError, ValidationError
from feedback.models import Judgement, Project
from training.models import (
    NEEDS_REWARD_MODEL,
    POLICY_KINDS,
    ModelVersion,
    RetrainPolicy,
    RetrainRun,
    TrainingJob,
)
from training.selectors import items_needing_responses, model_promoted
from training.services.jobs import job_config_validate, job_create
from training.services.registry import model_promote
from training.services.snapshots import snapshot_create, snapshot_file

logger = logging.getLogger(__name__)

DEFAULT_SNAPSHOT_PARAMS: dict[str, object] = {"format": "trl-conversational"}
POLICY_FIELDS = (
    "enabled",
    "min_new_judgements",
    "policy_method",
    "win_rate_threshold",
    "eval_prompts",
    "check_every_seconds",
    "snapshot_params",
    "reward_config",
    "policy_config",
    "evaluate_config",
    "generate_after",
    "generate_config",
)


def retrain_task_name(project: Project) -> str:
    return f"retrain:{project.slug}"


def retrain_policy_save(*, project: Project, **values: Any) -> RetrainPolicy:
    """Create or change the project's retraining policy (every config validated by the
    engine, so a bad hyperparameter is a 400 naming it) and sync its beat schedule."""
    unknown = sorted(set(values) - set(POLICY_FIELDS))
    if unknown:
        raise ValidationError(f"unknown field {unknown[0]}", details={unknown[0]: ["unknown"]})
    policy = RetrainPolicy.objects.filter(project=project).first() or RetrainPolicy(project=project)
    for name, value in values.items():
        setattr(policy, name, value)
    errors: dict[str, list[str]] = {}
    if policy.policy_method not in RetrainPolicy.Method.values:
        errors["policy_method"] = [f"must be one of {', '.join(RetrainPolicy.Method.values)}"]
    if not 0 <= float(policy.win_rate_threshold) <= 1:
        errors["win_rate_threshold"] = ["must be between 0 and 1"]
    for name, minimum in (
        ("min_new_judgements", 1),
        ("check_every_seconds", 1),
        ("eval_prompts", 1),
    ):
        value = getattr(policy, name)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            errors[name] = [f"must be a whole number of at least {minimum}"]
    if not isinstance(policy.snapshot_params, Mapping):
        errors["snapshot_params"] = ["must be an object of export parameters"]
    if errors:
        field = next(iter(errors))
        raise ValidationError(f"{field}: {errors[field][0]}", details=errors)
    checks = (
        ("reward_config", "reward"),
        ("policy_config", policy.policy_method),
        ("evaluate_config", "evaluate"),
        ("generate_config", "generate"),
    )
    for name, kind in checks:
        try:
            setattr(policy, name, _user_values(getattr(policy, name), kind, job_config_validate))
        except ValidationError as exc:
            details = {f"{name}.{k.split('.', 1)[-1]}": v for k, v in (exc.details or {}).items()}
            raise ValidationError(f"{name}: {exc.message}", details=details) from None
    with transaction.atomic():
        policy.save()
        retrain_schedule_sync(policy=policy)
    return policy


def _user_values(values: Any, kind: str, validate: Any) -> dict[str, Any]:
    """Check ``values`` with the engine but keep only what the user set (so engine default
    changes still apply to later runs)."""
    validate(kind=kind, config=values)
    return dict(values or {})


def retrain_schedule_sync(*, policy: RetrainPolicy) -> PeriodicTask:
    """The policy's beat entry: a PeriodicTask calling retrain_check every N seconds."""
    schedule, _ = IntervalSchedule.objects.get_or_create(
        every=policy.check_every_seconds, period=IntervalSchedule.SECONDS
    )
    task, _ = PeriodicTask.objects.update_or_create(
        name=retrain_task_name(policy.project),
        defaults={
            "task": "training.tasks.retrain_check",
            "interval": schedule,
            "kwargs": json.dumps({"project_id": policy.project_id}),
            "queue": "default",
            "enabled": policy.enabled,
            "description": f"Retrain {policy.project.name} on new human judgements.",
        },
    )
    if policy.periodic_task_id != task.pk:
        policy.periodic_task = task
        policy.save(update_fields=["periodic_task"])
    return task


def retrain_new_judgements(*, project: Project) -> int:
    """Current human judgements made since the snapshot of the latest reward model."""
    latest = (
        ModelVersion.objects.filter(project=project, kind="reward", snapshot__isnull=False)
        .select_related("snapshot")
        .order_by("-created_at", "-id")
        .first()
    )
    judgements = Judgement.objects.filter(
        item__project=project, source=Judgement.Source.HUMAN, is_current=True
    )
    if latest is not None and latest.snapshot is not None:
        judgements = judgements.filter(created_at__gt=latest.snapshot.created_at)
    return judgements.count()


def retrain_check(*, project: Project, launched_by: str) -> RetrainRun | None:
    """Start a run if the policy is enabled, none is running and the threshold is met:
    snapshot now, then queue the reward model. Returns the run, or None."""
    start = time.monotonic()
    with transaction.atomic():
        policy = RetrainPolicy.objects.select_for_update().filter(project=project).first()
        if policy is None or not policy.enabled:
            return None
        running = RetrainRun.objects.filter(project=project, status=RetrainRun.Status.RUNNING)
        for run_id in running.values_list("pk", flat=True):
            retrain_advance(run_id=run_id)  # a run whose advance message was lost
        if running.exists():
            return None
        new = retrain_new_judgements(project=project)
        if new < policy.min_new_judgements:
            return None
        try:
            with transaction.atomic():
                run = RetrainRun.objects.create(
                    project=project, launched_by=launched_by, new_judgements=new
                )
        except IntegrityError:
            return None  # another check started one a moment ago
        try:
            with transaction.atomic():
                snapshot = snapshot_create(
                    project=project, params=policy.snapshot_params or DEFAULT_SNAPSHOT_PARAMS
                )
                if not snapshot.row_count:
                    raise ValidationError("the snapshot holds no preference rows")
                run.snapshot = snapshot
                run.eval_prompts = _holdout(snapshot_file(snapshot), policy.eval_prompts)
                run.timings = {"snapshot": {"wall": time.monotonic() - start, "engine": 0.0}}
                run.stage = RetrainRun.Stage.REWARD
                run.save(update_fields=["snapshot", "eval_prompts", "timings", "stage"])
                job_create(
                    project=project,
                    kind="reward",
                    launched_by=launched_by,
                    snapshot=snapshot,
                    config=policy.reward_config,
                    retrain_run=run,
                )
        except ApplicationError as exc:
            _run_fail(run, f"snapshot: {exc.message}")
    logger.info("retrain run %s started for %s (%s new judgements)", run.pk, project.slug, new)
    return run


def _holdout(path: Any, count: int) -> list[Any]:
    """Up to ``count`` distinct prompts of the snapshot, chosen by hash (stable across runs),
    never more than half of them, so that training keeps the rest."""
    prompts: dict[str, Any] = {}
    with open(path, encoding="utf-8") as rows:
        for line in rows:
            if line.strip():
                prompt = json.loads(line).get("prompt")
                if prompt:
                    key = json.dumps(prompt, sort_keys=True, ensure_ascii=False)
                    prompts.setdefault(hashlib.sha256(key.encode()).hexdigest(), prompt)
    keep = min(count, len(prompts) // 2)
    return [prompts[k] for k in sorted(prompts)[:keep]]


def _run_fail(run: RetrainRun, error: str) -> None:
    run.status = RetrainRun.Status.FAILED
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "error", "finished_at"])
    logger.warning("retrain run %s failed: %s", run.pk, error)


def _stage_timing(run: RetrainRun, stage: str, job: TrainingJob) -> None:
    wall = (job.finished_at - job.created_at).total_seconds() if job.finished_at else 0.0
    run.timings = {**run.timings, stage: {"wall": wall, "engine": float(job.engine_seconds)}}


# The job that each stage waits for.
_STAGE_KINDS: dict[str, tuple[str, ...]] = {
    RetrainRun.Stage.REWARD: ("reward",),
    RetrainRun.Stage.POLICY: POLICY_KINDS,
    RetrainRun.Stage.EVALUATE: ("evaluate",),
}


def retrain_advance(*, run_id: int) -> str:
    """Move run ``run_id`` on if the job of its current stage has ended: to the next stage
    when it succeeded, to failed when it did not. Returns what it did; a run that is not
    running, or whose stage job has not ended, is left alone (so advancing twice is a no-op)."""
    with transaction.atomic():
        run = RetrainRun.objects.select_for_update().select_related("project").get(pk=run_id)
        if run.status != RetrainRun.Status.RUNNING or run.stage not in _STAGE_KINDS:
            return "nothing to do"
        job = (
            TrainingJob.objects.filter(retrain_run=run, kind__in=_STAGE_KINDS[run.stage])
            .order_by("-created_at", "-id")
            .first()
        )
        if job is None or not job.is_finished:
            return "waiting"
        if job.status != TrainingJob.Status.SUCCEEDED:
            _run_fail(run, f"{job.kind} job {job.pk} {job.status}: {job.error}".rstrip(": "))
            return "failed"
        stage = run.stage
        transition = _TRANSITIONS[stage]
        try:
            transition(run=run, job=job)
        except ApplicationError as exc:  # the next job could not be queued: the run stops here
            _run_fail(run, f"{run.stage}: {exc.message}")
            return "failed"
        return f"{stage} done"


def retrain_reward_done(*, run: RetrainRun, job: TrainingJob) -> None:
    """The reward model is trained: if its held-out interval lies above chance, queue the
    policy (the project's method) from the promoted policy, without the held-out prompts;
    else stop the run with the reason."""
    policy = RetrainPolicy.objects.get(project=run.project)
    version = ModelVersion.objects.filter(job=job).first()
    _stage_timing(run, "reward", job)
    run.reward_version = version
    if version is None or not version.can_judge:
        # Its win rates would be noise: stop before training a policy against it.
        run.status = RetrainRun.Status.STOPPED
        run.stage = RetrainRun.Stage.DONE
        run.error = retrain_gate_reason(version)
        run.finished_at = timezone.now()
        run.save(
            update_fields=["reward_version", "status", "stage", "error", "finished_at", "timings"]
        )
        logger.info("retrain run %s stopped: %s", run.pk, run.error)
        return
    run.stage = RetrainRun.Stage.POLICY
    run.save(update_fields=["reward_version", "stage", "timings"])
    method = policy.policy_method
    job_create(
        project=run.project,
        kind=method,
        launched_by=run.launched_by,
        snapshot=run.snapshot,
        parent=model_promoted(project=run.project, kind="policy"),
        reward_model=version if method in NEEDS_REWARD_MODEL else None,
        config=policy.policy_config,
        holdout_prompts=run.eval_prompts,
        retrain_run=run,
    )


def retrain_gate_reason(version: ModelVersion | None) -> str:
    """Why a reward model may not judge a policy (the run's recorded reason)."""
    if version is None or version.heldout_accuracy is None:
        label = version.label if version is not None else "the reward model"
        return (
            f"{label} recorded no held-out accuracy (no pairs were held out: set the reward "
            "config's eval_fraction above 0), so it cannot judge a policy; none was trained"
        )
    low, high = version.heldout_accuracy_low or 0.0, version.heldout_accuracy_high or 0.0
    where = "lies below" if high < 0.5 else "includes"
    return (
        f"{version.label} is not better than chance: held-out accuracy "
        f"{version.heldout_accuracy:.1%} (95% CI {low:.1%} to {high:.1%}, "
        f"{version.heldout_pairs} pairs) {where} 50%, so its win rates would mean nothing; "
        "no policy was trained or promoted (more, or more consistent, judgements are needed)"
    )


def retrain_policy_done(*, run: RetrainRun, job: TrainingJob) -> None:
    """The policy is trained: queue its evaluation against the promoted policy on the
    held-out prompts, judged by the new reward model."""
    policy = RetrainPolicy.objects.get(project=run.project)
    version = ModelVersion.objects.filter(job=job).first()
    _stage_timing(run, "policy", job)
    run.policy_version = version
    run.stage = RetrainRun.Stage.EVALUATE
    run.save(update_fields=["policy_version", "stage", "timings"])
    job_create(
        project=run.project,
        kind="evaluate",
        launched_by=run.launched_by,
        parent=version,
        reward_model=run.reward_version,
        config=policy.evaluate_config,
        holdout_prompts=run.eval_prompts,
        retrain_run=run,
    )


def retrain_evaluation_done(*, run: RetrainRun, job: TrainingJob) -> None:
    """The evaluation is done: promote the reward model, and the policy if its win rate
    reaches the threshold; after a promotion, queue a generate job for items that lack
    candidates."""
    policy = RetrainPolicy.objects.get(project=run.project)
    project = run.project
    _stage_timing(run, "evaluation", job)
    start = time.monotonic()
    assert run.reward_version is not None and run.policy_version is not None
    model_promote(version=run.reward_version)
    run.win_rate = dict(job.result)
    win = float(job.result.get("win_rate", 0.0))
    if win >= policy.win_rate_threshold:
        model_promote(version=run.policy_version)
        run.status = RetrainRun.Status.PROMOTED
    else:
        run.status = RetrainRun.Status.REJECTED
        run.error = f"win rate {win:.3f} is below the threshold {policy.win_rate_threshold:.3f}"
    run.stage = RetrainRun.Stage.DONE
    run.finished_at = timezone.now()
    run.timings = {**run.timings, "promotion": {"wall": time.monotonic() - start, "engine": 0.0}}
    run.save(update_fields=["win_rate", "status", "stage", "finished_at", "timings", "error"])
    if (
        run.status == RetrainRun.Status.PROMOTED
        and policy.generate_after
        and items_needing_responses(project=project).exists()
    ):
        job_create(
            project=project,
            kind="generate",
            launched_by=run.launched_by,
            parent=run.policy_version,
            config=policy.generate_config,
        )
    logger.info("retrain run %s ended: %s (win rate %.3f)", run.pk, run.status, win)


# What each stage does when its job has succeeded.
_TRANSITIONS: dict[str, Callable[..., None]] = {
    RetrainRun.Stage.REWARD: retrain_reward_done,
    RetrainRun.Stage.POLICY: retrain_policy_done,
    RetrainRun.Stage.EVALUATE: retrain_evaluation_done,
}
