"""The jobs and models API through the HTTP test client: validation (400 naming the field,
before anything is queued), conflicts (409) and permissions (annotators and outsiders
cannot launch, see, cancel or download)."""

from __future__ import annotations

import io
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_celery_beat.models import PeriodicTask
from rest_framework.test import APIClient

from feedback.models import Membership, Project
from training.models import DatasetSnapshot, JobMetric, ModelVersion, TrainingJob
from training.services.registry import model_promote, model_version_create
from training.services.snapshots import snapshot_create

from .conftest import FAST, preference_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(training_env: dict[str, str]) -> dict[str, Any]:
    project, admin, annotators = preference_data()
    other, _, _ = preference_data(slug="other", items=2, annotators=1)
    snapshot = snapshot_create(project=project, params={"format": "trl-conversational"})
    outsider = User.objects.create_user("outsider", password="pw-outsider-1234")
    staff = User.objects.create_user("staff", password="pw-staff-123456", is_staff=True)
    return {
        "project": project,
        "admin": admin,
        "annotator": annotators[0],
        "other": other,
        "other_snapshot": snapshot_create(project=other, params={"format": "trl"}),
        "snapshot": snapshot,
        "outsider": outsider,
        "staff": staff,
    }


def client_for(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client


def launch(world: dict[str, Any], user: User | None = None, **body: Any) -> Any:
    payload = {"project": "loop", "kind": "reward", "snapshot": world["snapshot"].pk, **body}
    return client_for(user or world["admin"]).post("/api/jobs/", payload, format="json")


def made_version(world: dict[str, Any], kind: str = "reward") -> ModelVersion:
    """A registered version with real files (a copy of the tiny model)."""
    job = TrainingJob.objects.create(
        project=world["project"],
        kind=kind,
        snapshot=world["snapshot"],
        launched_by="admin:test",
        status="succeeded",
    )
    out = Path(str(world["snapshot"].path)).name  # any unique folder name
    model_dir = Path(training_dir()) / "jobs" / f"{job.pk}-{out}" / "model"
    shutil.copytree(Path(str(base_model())), model_dir)
    return model_version_create(job=job, model_dir=model_dir, metrics={"eval_accuracy": 0.75})


def training_dir() -> str:
    from django.conf import settings

    return str(settings.ARTIFACT_DIR)


def base_model() -> str:
    from django.conf import settings

    return str(settings.BASE_MODEL)


# -- launching -------------------------------------------------------------------------


def test_admin_launches_a_job_with_the_engine_defaults_filled_in(world: dict[str, Any]) -> None:
    response = launch(world, config={"learning_rate": 0.001})
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "queued" and body["kind"] == "reward"
    assert body["launched_by"] == "admin:loop-admin"
    assert body["config"]["learning_rate"] == 0.001
    assert body["config"]["save_steps"] == 50  # an engine default, recorded with the job
    assert body["snapshot"]["row_count"] == world["snapshot"].row_count


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"config": {"learning_rate": -1}}, "config.learning_rate"),
        ({"config": {"no_such_knob": 1}}, "config.no_such_knob"),
        ({"config": {"per_device_train_batch_size": "many"}}, "config.per_device_train_batch_size"),
        ({"config": "fast please"}, "config"),
        ({"kind": "sft"}, "kind"),
        ({"snapshot": None}, "snapshot"),
        ({"snapshot": 999999}, "snapshot"),
        ({"kind": "ppo"}, "reward_model"),
        ({"kind": "generate"}, "snapshot"),
        ({"parent": 999999}, "parent"),
        ({"max_attempts": 0}, "max_attempts"),
        ({"snapshot": None, "snapshot_params": {"format": "csv"}}, "format"),
        ({"snapshot": None, "snapshot_params": {"pairs": "some"}}, "pairs"),
    ],
)
def test_bad_launch_is_a_400_naming_the_field_and_queues_nothing(
    world: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = launch(world, **body)
    assert response.status_code == 400, response.json()
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert field in error["details"], error
    assert not TrainingJob.objects.exists()


def test_snapshot_of_another_project_is_refused(world: dict[str, Any]) -> None:
    response = launch(world, snapshot=world["other_snapshot"].pk)
    assert response.status_code == 400
    assert "snapshot" in response.json()["error"]["details"]


def test_fresh_snapshot_is_made_with_the_export_parameters(world: dict[str, Any]) -> None:
    before = DatasetSnapshot.objects.count()
    response = launch(world, snapshot=None, snapshot_params={"format": "trl", "pairs": "all"})
    assert response.status_code == 201, response.json()
    assert DatasetSnapshot.objects.count() == before + 1
    job = TrainingJob.objects.get(pk=response.json()["id"])
    assert job.snapshot is not None and job.snapshot.format == "trl"
    assert job.snapshot.row_count == world["snapshot"].row_count


def test_only_staff_may_name_an_arbitrary_base_model(world: dict[str, Any]) -> None:
    assert launch(world, base_model="/etc").status_code == 403
    response = launch(world, user=world["staff"], base_model=base_model())
    assert response.status_code == 201


def test_annotator_cannot_launch_and_outsider_does_not_see_the_project(
    world: dict[str, Any],
) -> None:
    assert launch(world, user=world["annotator"]).status_code == 403
    assert launch(world, user=world["outsider"]).status_code == 404
    assert client_for(None).post("/api/jobs/", {}, format="json").status_code in (401, 403)
    assert not TrainingJob.objects.exists()


# -- watching, cancelling, retrying ------------------------------------------------------


def test_job_detail_has_progress_and_metric_curves(world: dict[str, Any]) -> None:
    job = TrainingJob.objects.get(pk=launch(world).json()["id"])
    JobMetric.objects.bulk_create(
        [JobMetric(job=job, step=s, name="loss", value=1.0 / s) for s in (1, 2, 3)]
    )
    TrainingJob.objects.filter(pk=job.pk).update(status="running", step=3, total_steps=6)
    body = client_for(world["admin"]).get(f"/api/jobs/{job.pk}/").json()
    assert body["progress"] == {"step": 3, "total_steps": 6, "fraction": 0.5}
    assert body["metrics"]["loss"] == [[1, 1.0], [2, 0.5], [3, 1.0 / 3]]


def test_jobs_list_is_scoped_and_does_not_grow_queries_with_jobs(world: dict[str, Any]) -> None:
    for _ in range(3):
        launch(world)
    admin = client_for(world["admin"])
    with CaptureQueriesContext(connection) as few:
        admin.get("/api/jobs/")
    for _ in range(6):
        launch(world)
    with CaptureQueriesContext(connection) as many:
        body = admin.get("/api/jobs/").json()
    assert len(body["results"]) == 9
    assert len(many) == len(few)
    assert client_for(world["annotator"]).get("/api/jobs/").json()["results"] == []
    assert client_for(world["outsider"]).get("/api/jobs/").json()["results"] == []


def test_cancel_and_retry_follow_the_job_state(world: dict[str, Any]) -> None:
    job_id = launch(world).json()["id"]
    admin = client_for(world["admin"])
    assert admin.post(f"/api/jobs/{job_id}/retry/").status_code == 409  # still queued
    response = admin.post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    assert admin.post(f"/api/jobs/{job_id}/cancel/").status_code == 409
    response = admin.post(f"/api/jobs/{job_id}/retry/")
    assert response.status_code == 200 and response.json()["status"] == "queued"


def test_running_job_cancel_sets_the_flag_the_worker_reads(world: dict[str, Any]) -> None:
    job_id = launch(world).json()["id"]
    TrainingJob.objects.filter(pk=job_id).update(status="running")
    response = client_for(world["admin"]).post(f"/api/jobs/{job_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "running" and response.json()["cancel_requested"]


def test_annotator_cannot_see_cancel_retry_or_download(world: dict[str, Any]) -> None:
    job_id = launch(world).json()["id"]
    version = made_version(world)
    annotator = client_for(world["annotator"])
    assert annotator.get(f"/api/jobs/{job_id}/").status_code == 404
    assert annotator.post(f"/api/jobs/{job_id}/cancel/").status_code == 404
    assert annotator.post(f"/api/jobs/{job_id}/retry/").status_code == 404
    assert annotator.get(f"/api/models/{version.pk}/download/").status_code == 404
    assert annotator.post(f"/api/models/{version.pk}/promote/").status_code == 404
    assert annotator.get("/api/models/").json()["results"] == []
    assert TrainingJob.objects.get(pk=job_id).status == "queued"


def test_job_kinds_lists_each_kinds_defaults(world: dict[str, Any]) -> None:
    body = client_for(world["admin"]).get("/api/jobs/kinds/").json()
    assert set(body) == {"reward", "dpo", "ppo", "grpo", "rloo", "kto", "generate", "evaluate"}
    assert body["dpo"]["defaults"]["beta"] == 0.1
    assert "num_return_sequences" in body["generate"]["defaults"]


# -- the registry ------------------------------------------------------------------------


def test_promote_archives_the_previous_and_rollback_restores_it(world: dict[str, Any]) -> None:
    first, second = made_version(world), made_version(world)
    admin = client_for(world["admin"])
    assert admin.post(f"/api/models/{first.pk}/promote/").json()["status"] == "promoted"
    assert admin.post(f"/api/models/{second.pk}/promote/").json()["status"] == "promoted"
    first.refresh_from_db()
    assert first.status == "archived"
    response = admin.post(
        "/api/models/rollback/", {"project": "loop", "kind": "reward"}, format="json"
    )
    assert response.status_code == 200 and response.json()["id"] == first.pk
    second.refresh_from_db()
    assert second.status == "archived"
    again = admin.post(
        "/api/models/rollback/", {"project": "loop", "kind": "reward"}, format="json"
    )
    assert again.status_code == 409


def test_rollback_validates_and_checks_the_role(world: dict[str, Any]) -> None:
    admin = client_for(world["admin"])
    response = admin.post(
        "/api/models/rollback/", {"project": "loop", "kind": "critic"}, format="json"
    )
    assert response.status_code == 400 and "kind" in response.json()["error"]["details"]
    payload = {"project": "loop", "kind": "policy"}
    assert admin.post("/api/models/rollback/", payload, format="json").status_code == 409
    assert (
        client_for(world["annotator"])
        .post("/api/models/rollback/", payload, format="json")
        .status_code
        == 403
    )


def test_download_streams_the_model_files_as_a_zip(world: dict[str, Any]) -> None:
    version = made_version(world)
    response = client_for(world["admin"]).get(f"/api/models/{version.pk}/download/")
    assert response.status_code == 200
    assert response["Content-Type"] == "application/zip"
    body = b"".join(response.streaming_content)  # type: ignore[attr-defined]
    archive = zipfile.ZipFile(io.BytesIO(body))
    names = archive.namelist()
    assert "loop-reward-v1/config.json" in names
    original = (Path(base_model()) / "model.safetensors").read_bytes()
    assert archive.read("loop-reward-v1/model.safetensors") == original
    assert archive.testzip() is None


def test_models_list_filters_and_shows_lineage(world: dict[str, Any]) -> None:
    version = made_version(world)
    model_promote(version=version)
    body = client_for(world["admin"]).get("/api/models/?status=promoted&kind=reward").json()
    assert [v["id"] for v in body["results"]] == [version.pk]
    assert body["results"][0]["snapshot"]["row_count"] == world["snapshot"].row_count
    assert body["results"][0]["metrics"] == {"eval_accuracy": 0.75}


# -- the retrain policy ------------------------------------------------------------------


def test_retrain_policy_is_saved_with_its_beat_schedule(world: dict[str, Any]) -> None:
    admin = client_for(world["admin"])
    url = "/api/projects/loop/retrain-policy/"
    assert admin.get(url).json()["enabled"] is False
    body = {
        "enabled": True,
        "min_new_judgements": 50,
        "policy_method": "grpo",
        "check_every_seconds": 120,
        "policy_config": {"num_generations": 4},
    }
    response = admin.put(url, body, format="json")
    assert response.status_code == 200, response.json()
    task = PeriodicTask.objects.get(name="retrain:loop")
    assert task.enabled and task.interval is not None and task.interval.every == 120
    assert task.task == "training.tasks.retrain_check"
    response = admin.put(url, {"enabled": False}, format="json")
    task.refresh_from_db()
    assert not task.enabled


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reward_config": {"learning_rate": 0}}, "reward_config.learning_rate"),
        ({"policy_config": {"num_generations": 3}}, "policy_config.num_generations"),
        ({"win_rate_threshold": 1.5}, "win_rate_threshold"),
        ({"policy_method": "kto"}, "policy_method"),
        ({"min_new_judgements": 0}, "min_new_judgements"),
    ],
)
def test_bad_retrain_policy_is_a_400_naming_the_field(
    world: dict[str, Any], body: dict[str, Any], field: str
) -> None:
    response = client_for(world["admin"]).put(
        "/api/projects/loop/retrain-policy/", body, format="json"
    )
    assert response.status_code == 400, response.json()
    assert field in response.json()["error"]["details"]
    assert not PeriodicTask.objects.filter(name="retrain:loop").exists()


def test_annotator_cannot_change_the_retrain_policy(world: dict[str, Any]) -> None:
    url = "/api/projects/loop/retrain-policy/"
    annotator = client_for(world["annotator"])
    assert annotator.put(url, {"enabled": True}, format="json").status_code == 403
    assert annotator.post(url + "check/").status_code == 403


def test_check_now_starts_nothing_below_the_threshold(world: dict[str, Any]) -> None:
    admin = client_for(world["admin"])
    admin.put(
        "/api/projects/loop/retrain-policy/",
        {"enabled": True, "min_new_judgements": 1000},
        format="json",
    )
    response = admin.post("/api/projects/loop/retrain-policy/check/")
    assert response.status_code == 200 and response.json() == {"started": False, "run": None}


def test_check_now_starts_a_run_with_a_snapshot_and_a_reward_job(world: dict[str, Any]) -> None:
    admin = client_for(world["admin"])
    admin.put(
        "/api/projects/loop/retrain-policy/",
        {"enabled": True, "min_new_judgements": 32, "reward_config": FAST, "eval_prompts": 4},
        format="json",
    )
    response = admin.post("/api/projects/loop/retrain-policy/check/")
    assert response.status_code == 201, response.json()
    run = response.json()["run"]
    assert run["stage"] == "reward" and run["new_judgements"] == 32
    job = TrainingJob.objects.get(retrain_run_id=run["id"])
    assert job.kind == "reward" and job.launched_by == "admin:loop-admin"
    second = admin.post("/api/projects/loop/retrain-policy/check/")
    assert second.json()["started"] is False  # one run at a time


def test_members_without_admin_role_are_refused_everywhere(world: dict[str, Any]) -> None:
    exporter = User.objects.create_user("exporter", password="pw-export-12345")
    Membership.objects.create(project=world["project"], user=exporter, role="exporter")
    assert launch(world, user=exporter).status_code == 403
    assert Project.objects.filter(slug="loop").exists()
