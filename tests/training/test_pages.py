"""Training pages through the test client: admins launch and watch, annotators get 404,
and no page carries inline script or style (the CSP forbids them)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from feedback.models import Judgement, Membership, Project
from training.models import ModelVersion, TrainingJob
from training.services.jobs import job_config_validate
from training.services.snapshots import snapshot_create

from .conftest import preference_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def site(training_env: dict[str, str]) -> dict[str, Any]:
    project, admin, annotators = preference_data()
    snapshot = snapshot_create(project=project, params={"format": "trl-conversational"})
    admin_client, annotator_client = Client(), Client()
    admin_client.force_login(admin)
    annotator_client.force_login(annotators[0])
    return {
        "project": project,
        "snapshot": snapshot,
        "admin": admin_client,
        "ann": annotator_client,
    }


def no_inline_code(html: str) -> bool:
    inline_script = re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    return inline_script is None and "<style" not in html and " style=" not in html


def test_new_job_form_shows_each_kinds_defaults_and_queues_a_job(site: dict[str, Any]) -> None:
    page = site["admin"].get("/training/jobs/new/")
    html = page.content.decode()
    assert page.status_code == 200 and no_inline_code(html)
    assert 'name="config-dpo-beta" placeholder="0.1"' in html
    response = site["admin"].post(
        "/training/jobs/new/",
        {
            "project": "loop",
            "kind": "reward",
            "snapshot": site["snapshot"].pk,
            "config-reward-max_steps": "3",
            "config-reward-learning_rate": "0.001",
        },
    )
    job = TrainingJob.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/training/jobs/{job.pk}/"
    assert job.config["max_steps"] == 3 and job.config["learning_rate"] == 0.001
    assert job.launched_by == "admin:loop-admin"


def test_new_job_form_names_the_bad_field(site: dict[str, Any]) -> None:
    response = site["admin"].post(
        "/training/jobs/new/",
        {
            "project": "loop",
            "kind": "reward",
            "snapshot": site["snapshot"].pk,
            "config-reward-learning_rate": "-3",
        },
    )
    assert response.status_code == 200
    assert "config.learning_rate" in response.content.decode()
    assert not TrainingJob.objects.exists()


def test_fresh_snapshot_option_makes_one(site: dict[str, Any]) -> None:
    site["admin"].post(
        "/training/jobs/new/",
        {"project": "loop", "kind": "dpo", "fresh_snapshot": "1", "export-format": "trl"},
    )
    job = TrainingJob.objects.get()
    assert job.snapshot is not None and job.snapshot.format == "trl"
    assert job.snapshot_id != site["snapshot"].pk


def test_a_fresh_snapshot_that_matches_nothing_is_said_in_words(site: dict[str, Any]) -> None:
    # A new demo has nothing judged yet: the form said "params: {}" (the error's context).
    response = site["admin"].post(
        "/training/jobs/new/",
        {"project": "loop", "kind": "dpo", "fresh_snapshot": "1", "export-source": "imported"},
    )
    html = response.content.decode()
    assert response.status_code == 200 and "match these export parameters" in html
    # It names the project: the form's first project is not always the one judged.
    assert f"Project “{site['project'].name}”" in html
    assert "params" not in re.sub(r"<[^>]+>", "", html.split('id="job-errors"')[1][:600])
    assert not TrainingJob.objects.exists()


def test_job_pages_render_for_admins_and_are_hidden_from_annotators(
    site: dict[str, Any],
) -> None:
    site["admin"].post(
        "/training/jobs/new/",
        {"project": "loop", "kind": "reward", "snapshot": site["snapshot"].pk},
    )
    job = TrainingJob.objects.get()
    for url in ("/training/jobs/", f"/training/jobs/{job.pk}/", "/training/models/"):
        page = site["admin"].get(url)
        assert page.status_code == 200, url
        assert no_inline_code(page.content.decode()), url
        assert site["ann"].get(url).status_code == 404, url
    detail = site["admin"].get(f"/training/jobs/{job.pk}/").content.decode()
    assert "uPlot.iife.min.js" in detail and f"/api/jobs/{job.pk}/" in detail
    assert site["ann"].post(f"/training/jobs/{job.pk}/cancel/").status_code == 404
    site["admin"].post(f"/training/jobs/{job.pk}/cancel/")
    job.refresh_from_db()
    assert job.status == "cancelled"


def test_registry_page_promotes_with_one_click(site: dict[str, Any]) -> None:
    job = TrainingJob.objects.create(
        project=site["project"], kind="reward", snapshot=site["snapshot"], launched_by="x"
    )
    version = ModelVersion.objects.create(
        project=site["project"], kind="reward", number=1, job=job, artifact_path="jobs/1/model"
    )
    assert "Promote" in site["admin"].get("/training/models/").content.decode()
    site["admin"].post(f"/training/models/{version.pk}/promote/")
    version.refresh_from_db()
    assert version.status == "promoted"


def test_new_job_form_offers_imported_base_models_and_the_site_job_defaults(
    site: dict[str, Any], settings: Any, tmp_path: Any, django_user_model: Any
) -> None:
    settings.BASE_MODELS_DIR = tmp_path / "base-models"
    imported = settings.BASE_MODELS_DIR / "smollm2-135m-instruct"
    imported.mkdir(parents=True)
    (imported / "config.json").write_text("{}")
    (settings.BASE_MODELS_DIR / ".other.partial-7").mkdir()  # being written: not offered
    settings.TRAINING_DEFAULTS = {"use_lora": True, "max_steps": 12, "no_such_field": 1}
    staff = django_user_model.objects.create_user("staff", password="x", is_staff=True)
    client = Client()
    client.force_login(staff)

    html = client.get("/training/jobs/new/").content.decode()

    assert f'<option value="{imported}">' in html and ".partial" not in html
    assert 'name="config-dpo-max_steps" placeholder="12"' in html
    assert '<input type="checkbox" name="config-dpo-use_lora" checked>' in html
    client.post(
        "/training/jobs/new/",
        {"project": "loop", "kind": "reward", "snapshot": site["snapshot"].pk},
    )
    job = TrainingJob.objects.get()
    assert job.config["max_steps"] == 12  # a field left empty takes the site's default
    # and a job made without a config (the API, the retraining loop) gets them all
    assert job_config_validate(kind="dpo", config={})["use_lora"] is True


def test_the_form_opens_on_a_judged_project_before_an_empty_one(site: dict[str, Any]) -> None:
    # The demo's "pick the better answer" sorts first, but nobody had judged it yet.
    empty = Project.objects.create(name="Aardvark", slug="aardvark", responses_per_item=2)
    admin = User.objects.get(username="loop-admin")
    Membership.objects.create(project=empty, user=admin, role="admin")
    html = site["admin"].get("/training/jobs/new/").content.decode()
    assert re.search(r'<option value="loop"[^>]* selected', html)
    assert not re.search(r'<option value="aardvark"[^>]* selected', html)
    # Once both are judged (or neither), the first by name.
    Judgement.objects.all().delete()
    html = site["admin"].get("/training/jobs/new/").content.decode()
    assert re.search(r'<option value="aardvark"[^>]* selected', html)
