"""Job and registry services on Postgres: atomic claims, the reaper, one version per job,
one promoted model per kind, the retrain threshold."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from feedback.models import Judgement
from training.models import ModelVersion, TrainingJob
from training.services import jobs_reap, model_promote
from training.services.execution import job_claim
from training.services.registry import model_version_create
from training.services.retrain import retrain_new_judgements
from training.services.snapshots import snapshot_create

from .conftest import preference_data


def _job(**fields: Any) -> TrainingJob:
    project, _, _ = preference_data(items=2, annotators=1)
    snapshot = snapshot_create(project=project, params={"format": "trl"})
    return TrainingJob.objects.create(
        project=project, kind="reward", snapshot=snapshot, launched_by="admin:test", **fields
    )


@pytest.mark.django_db(transaction=True)
def test_two_deliveries_claiming_at_once_get_the_job_once(training_env: Any) -> None:
    job = _job()
    barrier = threading.Barrier(4)
    claimed: list[bool] = []

    def deliver() -> None:
        try:
            barrier.wait()
            claimed.append(job_claim(job_id=job.pk) is not None)
        finally:
            connection.close()

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(claimed) == [False, False, False, True]
    job.refresh_from_db()
    assert job.status == "running" and job.attempts == 1


@pytest.mark.django_db
def test_reaper_requeues_a_silent_job_and_fails_it_after_its_last_attempt(
    training_env: Any, django_capture_on_commit_callbacks: Any
) -> None:
    old = timezone.now() - timedelta(minutes=10)
    silent = _job(status="running", attempts=1, max_attempts=2, heartbeat_at=old)
    alive = TrainingJob.objects.create(
        project=silent.project,
        kind="reward",
        snapshot=silent.snapshot,
        launched_by="admin:test",
        status="running",
        attempts=1,
        heartbeat_at=timezone.now(),
    )
    with django_capture_on_commit_callbacks() as sent:
        assert jobs_reap() == [silent.pk]
    assert len(sent) == 1  # one message re-queues it, after the commit
    silent.refresh_from_db()
    alive.refresh_from_db()
    assert silent.status == "queued" and "re-queued" in silent.log_tail
    assert alive.status == "running"

    TrainingJob.objects.filter(pk=silent.pk).update(status="running", attempts=2, heartbeat_at=old)
    with django_capture_on_commit_callbacks() as sent:
        jobs_reap()
    silent.refresh_from_db()
    assert silent.status == "failed" and not sent
    assert "used all 2 attempts" in silent.error and silent.finished_at is not None


@pytest.mark.django_db
def test_a_job_makes_one_version_and_versions_are_numbered(training_env: Any) -> None:
    job = _job(status="running")
    model_dir = Path(training_env["FEEDBACK_ARTIFACT_DIR"]) / "jobs" / str(job.pk) / "model"
    model_dir.mkdir(parents=True)
    first = model_version_create(job=job, model_dir=model_dir, metrics={})
    again = model_version_create(job=job, model_dir=model_dir, metrics={})
    assert first.pk == again.pk and first.number == 1
    other = TrainingJob.objects.create(
        project=job.project, kind="reward", snapshot=job.snapshot, launched_by="admin:test"
    )
    assert model_version_create(job=other, model_dir=model_dir, metrics={}).number == 2


@pytest.mark.django_db
def test_the_database_refuses_two_promoted_models_of_a_kind(training_env: Any) -> None:
    job = _job()
    common = {"project": job.project, "kind": "reward", "artifact_path": "x", "method": "reward"}
    one = ModelVersion.objects.create(number=1, **common)
    two = ModelVersion.objects.create(number=2, **common)
    model_promote(version=one)
    model_promote(version=two)
    one.refresh_from_db()
    assert one.status == "archived"
    with pytest.raises(IntegrityError), transaction.atomic():
        ModelVersion.objects.filter(pk=one.pk).update(status="promoted")


@pytest.mark.django_db
def test_new_judgements_count_humans_since_the_last_reward_models_snapshot(
    training_env: Any,
) -> None:
    project, _, _ = preference_data(items=4, annotators=2)
    assert retrain_new_judgements(project=project) == 8
    snapshot = snapshot_create(project=project, params={"format": "trl"})
    ModelVersion.objects.create(
        project=project, kind="reward", number=1, snapshot=snapshot, artifact_path="x"
    )
    assert retrain_new_judgements(project=project) == 0
    bot = User.objects.create_user("import:hh")
    item = project.items.first()
    assert item is not None
    ids = list(item.responses.values_list("pk", flat=True))
    Judgement.objects.create(item=item, annotator=bot, source="imported", ranking=[ids])
    assert retrain_new_judgements(project=project) == 0  # imported ones do not count
    person = User.objects.create_user("late-annotator")
    Judgement.objects.create(item=item, annotator=person, ranking=[ids])
    assert retrain_new_judgements(project=project) == 1
