"""The retrain loop listens to job ends, on real Postgres: ``job_finish`` queues the run's
advance after the commit, each stage moves on by itself, a second advance does nothing,
and a lost advance is picked up by the project's periodic check (the task, run directly).

The jobs here are ended by hand (claim, then ``job_finish``) instead of training: what is
under test is the bookkeeping between the stages, not the engine (test_loop.py runs the
whole loop on real workers)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from feedback.models import Project
from training.models import ModelVersion, RetrainRun, TrainingJob
from training.services import job_cancel, retrain_check, retrain_policy_save
from training.services.execution import job_claim
from training.services.finish import job_finish
from training.services.registry import model_version_create
from training.services.retrain import retrain_advance
from training.tasks import retrain_check as retrain_check_task

from .conftest import preference_data

pytestmark = pytest.mark.django_db


def _started_run(*, threshold: float = 0.5) -> tuple[Project, RetrainRun]:
    project, _, _ = preference_data(items=6, annotators=1)
    retrain_policy_save(
        project=project,
        enabled=True,
        min_new_judgements=1,
        policy_method="dpo",
        win_rate_threshold=threshold,
    )
    run = retrain_check(project=project, launched_by="admin:test")
    assert run is not None and run.stage == RetrainRun.Stage.REWARD
    return project, run


def _stage_job(run: RetrainRun, kind: str) -> TrainingJob:
    return TrainingJob.objects.get(retrain_run=run, kind=kind)


# The engine's held-out figures of a reward model that learned (15 of 16 held-out pairs
# right: 95% CI 72% to 99%) and of one at chance (8 of 16: 28% to 72%).
LEARNED = {
    "heldout_accuracy": 15 / 16,
    "heldout_accuracy_low": 0.717,
    "heldout_accuracy_high": 0.989,
    "heldout_accuracy_n": 16.0,
}
AT_CHANCE = {
    "heldout_accuracy": 0.5,
    "heldout_accuracy_low": 0.280,
    "heldout_accuracy_high": 0.720,
    "heldout_accuracy_n": 16.0,
}


def _succeed(
    job: TrainingJob,
    artifacts: str,
    result: dict[str, Any] | None = None,
    metrics: dict[str, float] | None = None,
) -> None:
    """What a worker does with a job, minus the training: claim it, end it successfully
    (registering its model version with ``metrics``, for a training job; a reward model
    that learned unless told otherwise)."""
    claimed = job_claim(job_id=job.pk)
    assert claimed is not None
    if metrics is None:
        metrics = LEARNED if job.kind == "reward" else {}

    def register(locked: TrainingJob) -> None:
        if locked.kind != "evaluate":
            model_dir = Path(artifacts) / "jobs" / str(locked.pk) / "model"
            model_dir.mkdir(parents=True)
            model_version_create(job=locked, model_dir=model_dir, metrics=metrics)

    ended = job_finish(
        job_id=job.pk,
        status=TrainingJob.Status.SUCCEEDED,
        attempt=claimed.attempts,
        result=result or {},
        before=register,
    )
    assert ended is not None


def test_ending_a_runs_job_queues_its_advance_after_the_commit(
    training_env: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _, run = _started_run()
    job = _stage_job(run, "reward")
    with django_capture_on_commit_callbacks() as sent:
        _succeed(job, training_env["FEEDBACK_ARTIFACT_DIR"])
    assert len(sent) == 1  # the advance, and nothing else
    run.refresh_from_db()
    assert run.stage == RetrainRun.Stage.REWARD  # the loop moves when the message arrives


def test_only_the_attempt_that_owns_a_job_can_end_it(
    training_env: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _, run = _started_run()
    job = _stage_job(run, "reward")
    claimed = job_claim(job_id=job.pk)
    assert claimed is not None
    with django_capture_on_commit_callbacks() as sent:
        stale = job_finish(job_id=job.pk, status=TrainingJob.Status.FAILED, attempt=2)
    assert stale is None and not sent
    job.refresh_from_db()
    assert job.status == TrainingJob.Status.RUNNING


def test_a_trained_reward_model_moves_the_run_to_its_policy(training_env: Any) -> None:
    _, run = _started_run()
    _succeed(_stage_job(run, "reward"), training_env["FEEDBACK_ARTIFACT_DIR"])
    assert retrain_advance(run_id=run.pk) == "reward done"
    run.refresh_from_db()
    policy_job = _stage_job(run, "dpo")
    assert run.stage == RetrainRun.Stage.POLICY
    assert run.reward_version == ModelVersion.objects.get(job__kind="reward")
    assert policy_job.status == TrainingJob.Status.QUEUED
    assert policy_job.holdout_prompts == run.eval_prompts and policy_job.snapshot == run.snapshot


def test_advancing_a_run_twice_queues_its_next_job_once(training_env: Any) -> None:
    _, run = _started_run()
    _succeed(_stage_job(run, "reward"), training_env["FEEDBACK_ARTIFACT_DIR"])
    assert retrain_advance(run_id=run.pk) == "reward done"
    assert retrain_advance(run_id=run.pk) == "waiting"  # the policy job has not ended
    run.refresh_from_db()
    assert run.stage == RetrainRun.Stage.POLICY
    assert TrainingJob.objects.filter(retrain_run=run).count() == 2


def test_a_trained_policy_moves_the_run_to_its_evaluation(training_env: Any) -> None:
    _, run = _started_run()
    artifacts = training_env["FEEDBACK_ARTIFACT_DIR"]
    _succeed(_stage_job(run, "reward"), artifacts)
    retrain_advance(run_id=run.pk)
    _succeed(_stage_job(run, "dpo"), artifacts)
    assert retrain_advance(run_id=run.pk) == "policy done"
    run.refresh_from_db()
    evaluate = _stage_job(run, "evaluate")
    assert run.stage == RetrainRun.Stage.EVALUATE
    assert evaluate.parent == run.policy_version and evaluate.reward_model == run.reward_version


@pytest.mark.parametrize(("win_rate", "status"), [(0.8, "promoted"), (0.2, "rejected")])
def test_the_evaluation_promotes_the_policy_only_above_the_threshold(
    training_env: Any, win_rate: float, status: str
) -> None:
    _, run = _started_run(threshold=0.5)
    artifacts = training_env["FEEDBACK_ARTIFACT_DIR"]
    _succeed(_stage_job(run, "reward"), artifacts)
    retrain_advance(run_id=run.pk)
    _succeed(_stage_job(run, "dpo"), artifacts)
    retrain_advance(run_id=run.pk)
    _succeed(_stage_job(run, "evaluate"), artifacts, result={"win_rate": win_rate})
    assert retrain_advance(run_id=run.pk) == "evaluate done"
    run.refresh_from_db()
    assert (run.status, run.stage) == (status, RetrainRun.Stage.DONE)
    assert run.reward_version is not None and run.policy_version is not None
    assert run.reward_version.status == "promoted"
    assert (run.policy_version.status == "promoted") == (status == "promoted")
    assert retrain_advance(run_id=run.pk) == "nothing to do"


@pytest.mark.parametrize(
    ("metrics", "reason"),
    [
        (AT_CHANCE, "held-out accuracy 50.0% (95% CI 28.0% to 72.0%, 16 pairs) includes 50%"),
        ({}, "recorded no held-out accuracy"),
    ],
)
def test_a_reward_model_no_better_than_chance_stops_the_run_before_any_policy(
    training_env: Any, metrics: dict[str, float], reason: str
) -> None:
    _, run = _started_run(threshold=0.0)  # any win rate would promote
    _succeed(_stage_job(run, "reward"), training_env["FEEDBACK_ARTIFACT_DIR"], metrics=metrics)
    assert retrain_advance(run_id=run.pk) == "reward done"
    run.refresh_from_db()
    assert (run.status, run.stage) == (RetrainRun.Status.STOPPED, RetrainRun.Stage.DONE)
    assert reason in run.error and run.finished_at is not None
    assert run.reward_version is not None and run.reward_version.status == "candidate"
    assert set(TrainingJob.objects.filter(retrain_run=run).values_list("kind", flat=True)) == {
        "reward"
    }
    assert not ModelVersion.objects.filter(status="promoted").exists()
    assert retrain_advance(run_id=run.pk) == "nothing to do"


def test_the_recorded_held_out_figure_is_on_the_reward_version(training_env: Any) -> None:
    _, run = _started_run()
    _succeed(_stage_job(run, "reward"), training_env["FEEDBACK_ARTIFACT_DIR"])
    version = ModelVersion.objects.get(job__kind="reward")
    assert (version.heldout_accuracy, version.heldout_pairs) == (15 / 16, 16)
    assert (version.heldout_accuracy_low, version.heldout_accuracy_high) == (0.717, 0.989)
    assert version.can_judge


def test_a_failed_stage_job_fails_the_run(training_env: Any) -> None:
    _, run = _started_run()
    job = _stage_job(run, "reward")
    claimed = job_claim(job_id=job.pk)
    assert claimed is not None
    job_finish(job_id=job.pk, status="failed", attempt=claimed.attempts, error="out of memory")
    assert retrain_advance(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == RetrainRun.Status.FAILED
    assert run.error == f"reward job {job.pk} failed: out of memory"


def test_a_lost_advance_is_picked_up_by_the_periodic_check(training_env: Any) -> None:
    project, run = _started_run()
    # The job ends, but its advance message never runs (the worker died in between: in
    # this test's transaction, on-commit callbacks never fire).
    _succeed(_stage_job(run, "reward"), training_env["FEEDBACK_ARTIFACT_DIR"])
    run.refresh_from_db()
    assert run.stage == RetrainRun.Stage.REWARD
    # Beat's next check of the project (the task itself, run here against Postgres).
    assert retrain_check_task.apply(args=(project.pk,)).get() is None
    run.refresh_from_db()
    assert run.stage == RetrainRun.Stage.POLICY
    assert _stage_job(run, "dpo").status == TrainingJob.Status.QUEUED
    assert RetrainRun.objects.filter(project=project).count() == 1  # and no second run


def test_cancelling_a_queued_stage_job_ends_it_through_job_finish(
    training_env: Any, django_capture_on_commit_callbacks: Any
) -> None:
    _, run = _started_run()
    job = _stage_job(run, "reward")
    with django_capture_on_commit_callbacks() as sent:
        job_cancel(job=job)
    assert job.status == TrainingJob.Status.CANCELLED and job.finished_at is not None
    assert len(sent) == 1  # the run's advance
    assert retrain_advance(run_id=run.pk) == "failed"
    run.refresh_from_db()
    assert run.status == RetrainRun.Status.FAILED
