"""Jobs on a real Celery worker process (Redis broker, Postgres): run, cancel, kill -9 and
resume, duplicate delivery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.artifacts import artifact_absolute
from training.models import JobMetric, ModelVersion, TrainingJob
from training.services import job_cancel, job_create
from training.services.snapshots import snapshot_create
from training.tasks import job_run, jobs_reap

from .conftest import FAST, preference_data, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _step(job: TrainingJob, at_least: int) -> bool:
    job.refresh_from_db()
    return job.step >= at_least


def _status(job: TrainingJob, *statuses: str) -> bool:
    job.refresh_from_db()
    return job.status in statuses


def _reward_job(config: dict[str, Any] | None = None, **kwargs: Any) -> TrainingJob:
    project, admin, _ = preference_data()
    snapshot = snapshot_create(project=project, params={"format": "trl-conversational"})
    return job_create(
        project=project,
        kind="reward",
        launched_by=f"admin:{admin.username}",
        user=admin,
        snapshot=snapshot,
        config=config or FAST,
        **kwargs,
    )


def test_reward_job_trains_on_a_worker_and_registers_one_version(start_worker: Any) -> None:
    start_worker()
    job = _reward_job()
    wait_for(lambda: _status(job, *TrainingJob.FINISHED), timeout=180, what="the reward job")
    assert job.status == "succeeded", job.error + job.log_tail
    assert job.attempts == 1
    assert job.step == job.total_steps == 4
    version = ModelVersion.objects.get(job=job)
    assert version.kind == "reward" and version.number == 1 and version.status == "candidate"
    assert (artifact_absolute(version.artifact_path) / "model.safetensors").is_file()
    assert version.snapshot_id == job.snapshot_id
    losses = JobMetric.objects.filter(job=job, name="loss")
    assert losses.count() >= 4
    assert job.engine_seconds > 0
    assert "attempt 1 of 3 started" in job.log_tail


def test_the_same_job_delivered_twice_is_trained_once(start_worker: Any) -> None:
    worker = start_worker()
    job = _reward_job()
    job_run.apply_async(args=(job.pk,))  # a second message for the same job
    wait_for(lambda: _status(job, *TrainingJob.FINISHED), timeout=180, what="the job")
    wait_for(
        # received and done, twice (the "[" leaves out the worker's banner, which lists it)
        lambda: worker.output().count("training.tasks.job_run[") >= 4,
        timeout=60,
        what="both deliveries to be handled",
    )
    assert job.status == "succeeded"
    assert job.attempts == 1
    assert ModelVersion.objects.filter(job=job).count() == 1
    assert "skipped (succeeded)" in worker.output() or "skipped (running)" in worker.output()
    steps = list(JobMetric.objects.filter(job=job, name="loss").values_list("step", flat=True))
    assert len(steps) == len(set(steps)), "metrics were written twice"


def test_cancel_mid_job_stops_it_and_the_worker_takes_the_next_job(start_worker: Any) -> None:
    start_worker()
    long = _reward_job({**FAST, "max_steps": 5000, "save_steps": 1000})
    wait_for(lambda: _step(long, 2), timeout=180, what="progress")
    following = job_create(
        project=long.project,
        kind="reward",
        launched_by="admin:test",
        snapshot=long.snapshot,
        config=FAST,
    )
    job_cancel(job=long)
    wait_for(lambda: _status(long, *TrainingJob.FINISHED), timeout=60, what="the cancel")
    assert long.status == "cancelled"
    assert long.step < 5000
    assert not ModelVersion.objects.filter(job=long).exists()
    wait_for(lambda: _status(following, *TrainingJob.FINISHED), timeout=180, what="the next job")
    assert following.status == "succeeded"


def test_killed_worker_job_is_reaped_and_resumed_from_its_checkpoint(
    start_worker: Any, tmp_path: Path
) -> None:
    first = start_worker()
    job = _reward_job({**FAST, "max_steps": 40, "save_steps": 5})
    checkpoints = artifact_absolute(f"jobs/{job.pk}") / "checkpoints"
    wait_for(
        lambda: _step(job, 12),
        timeout=240,
        what="a checkpoint",
        every=0.05,
    )
    first.kill()
    job.refresh_from_db()
    assert job.status == "running"  # nobody told the database: the worker just died
    saved = sorted(p.name for p in checkpoints.iterdir())
    assert saved, "no checkpoint was written before the kill"

    start_worker()

    def reaped() -> bool:
        jobs_reap.delay()  # what beat sends every TRAINING_REAP_EVERY_SECONDS
        job.refresh_from_db()
        return job.attempts >= 2

    wait_for(reaped, timeout=90, what="the reaper to re-queue the job", every=1.0)
    wait_for(lambda: _status(job, *TrainingJob.FINISHED), timeout=240, what="the resumed job")
    assert job.status == "succeeded", job.error + job.log_tail
    assert job.attempts == 2
    assert "re-queued" in job.log_tail
    assert "resuming from checkpoint-" in job.log_tail  # the engine said so
    assert ModelVersion.objects.filter(job=job).count() == 1
    steps = list(JobMetric.objects.filter(job=job, name="loss").values_list("step", flat=True))
    assert len(steps) == len(set(steps)), "resumed steps were recorded twice"
    assert max(steps) == 40
