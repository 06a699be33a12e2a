"""Two-process jobs (DDP over gloo on CPU) through a real Celery worker: reward and DPO succeed
with one model version and one set of metrics in as many steps as one process; cancel and
kill -9 of the worker leave no rank behind."""

from __future__ import annotations

import os
import re
import time
from typing import Any

import pytest

from training.artifacts import artifact_absolute
from training.models import JobMetric, ModelVersion, TrainingJob
from training.services import job_cancel, job_create
from training.services.snapshots import snapshot_create
from training.tasks import jobs_reap

from .conftest import FAST, preference_data, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

# Two ranks of batch 2 are the effective batch of one process of batch 4 (FAST's).
TWO = {**FAST, "processes": 2, "backend": "ddp", "per_device_train_batch_size": 2}


def _job(kind: str, config: dict[str, Any], *, like: TrainingJob | None = None) -> TrainingJob:
    """A job on fresh preference data, or on the project and snapshot of job `like`."""
    snapshot: Any
    if like is None:
        project, admin, _ = preference_data()
        snapshot = snapshot_create(project=project, params={"format": "trl-conversational"})
        launched_by = f"admin:{admin.username}"
    else:
        project, snapshot, launched_by = like.project, like.snapshot, like.launched_by
    return job_create(
        project=project, kind=kind, launched_by=launched_by, snapshot=snapshot, config=config
    )


def _finished(job: TrainingJob) -> bool:
    job.refresh_from_db()
    return job.status in TrainingJob.FINISHED


def _step(job: TrainingJob, at_least: int) -> bool:
    job.refresh_from_db()
    return job.step >= at_least


def _rank_pids(job: TrainingJob) -> list[int]:
    pids = []
    for log in (artifact_absolute(f"jobs/{job.pk}") / "logs").glob("rank-*.log"):
        pids += [int(p) for p in re.findall(r"started \(pid (\d+)\)", log.read_text())]
    return pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _orphans(pids: list[int], timeout: float = 20.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and any(_alive(p) for p in pids):
        time.sleep(0.2)
    return [p for p in pids if _alive(p)]


def _loss_steps(job: TrainingJob) -> list[int]:
    return list(JobMetric.objects.filter(job=job, name="loss").values_list("step", flat=True))


@pytest.mark.parametrize("kind", ["reward", "dpo"])
def test_two_process_job_trains_once_with_one_version_and_single_process_steps(
    start_worker: Any, kind: str
) -> None:
    start_worker()
    two = _job(kind, {**TWO, "max_steps": -1})
    wait_for(lambda: _finished(two), timeout=240, what=f"the two-process {kind} job")
    assert two.status == "succeeded", two.error + two.log_tail
    one = _job(kind, {**FAST, "max_steps": -1}, like=two)
    wait_for(lambda: _finished(one), timeout=240, what=f"the one-process {kind} job")
    assert one.status == "succeeded", one.error + one.log_tail

    assert two.total_steps == one.total_steps and two.step == one.step > 1
    assert ModelVersion.objects.filter(job=two).count() == 1
    version = ModelVersion.objects.get(job=two)
    assert (artifact_absolute(version.artifact_path) / "card.json").is_file()
    steps = _loss_steps(two)
    assert sorted(steps) == sorted(set(steps)), "rank 1 reported metrics too"
    assert len(steps) == len(_loss_steps(one))
    assert "launching 2 processes (ddp)" in two.log_tail
    assert sorted(p.name for p in (artifact_absolute(f"jobs/{two.pk}") / "logs").iterdir()) == [
        "rank-0.log",
        "rank-1.log",
    ]


def test_cancel_of_a_two_process_job_stops_every_rank(start_worker: Any) -> None:
    start_worker()
    job = _job("reward", {**TWO, "max_steps": 5000, "save_steps": 1000})
    wait_for(lambda: _step(job, 2), timeout=240, what="progress")
    pids = _rank_pids(job)
    assert len(pids) == 2
    job_cancel(job=job)
    wait_for(lambda: _finished(job), timeout=90, what="the cancel")
    assert job.status == "cancelled", job.error + job.log_tail
    assert 2 <= job.step < 5000
    assert not ModelVersion.objects.filter(job=job).exists()
    assert _orphans(pids) == []


def test_killed_worker_two_process_job_resumes_from_its_checkpoint_on_both_ranks(
    start_worker: Any,
) -> None:
    first = start_worker()
    job = _job("reward", {**TWO, "max_steps": 40, "save_steps": 5})
    wait_for(lambda: _step(job, 12), timeout=240, what="a checkpoint", every=0.05)
    pids = _rank_pids(job)
    first.kill()  # kill -9 of the worker's process group; the ranks are in sessions of their own
    assert _orphans(pids) == [], "ranks outlived the killed worker"
    job.refresh_from_db()
    assert job.status == "running"

    start_worker()

    def reaped() -> bool:
        jobs_reap.delay()
        job.refresh_from_db()
        return job.attempts >= 2

    wait_for(reaped, timeout=90, what="the reaper to re-queue the job", every=1.0)
    wait_for(lambda: _finished(job), timeout=240, what="the resumed job")
    assert job.status == "succeeded", job.error + job.log_tail
    assert "resuming from checkpoint-" in job.log_tail
    logs = artifact_absolute(f"jobs/{job.pk}") / "logs"
    for rank in (0, 1):
        assert "resuming from checkpoint-" in (logs / f"rank-{rank}.log").read_text()
    assert ModelVersion.objects.filter(job=job).count() == 1
    steps = _loss_steps(job)
    assert len(steps) == len(set(steps)) and max(steps) == 40
    assert _orphans(_rank_pids(job)) == []
