"""An admin watches a training job in a real browser: the loss curve is drawn (uPlot),
grows as the worker reports steps, and the page settles when the job ends; nothing breaks
the Content-Security-Policy or logs an error."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.training.conftest import preference_data
from training.models import JobMetric, TrainingJob
from training.services.snapshots import snapshot_create

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = os.environ.get("FEEDBACK_SCREENSHOTS")


def _report(job: TrainingJob, steps: range) -> None:
    """What the worker's reporter writes: metric rows and the job's step."""
    JobMetric.objects.bulk_create(
        JobMetric(job=job, step=step, name=name, value=value)
        for step in steps
        for name, value in (("loss", 0.7 / step), ("accuracy", 1 - 0.5 / step))
    )
    job.step = steps[-1]
    job.log_tail += "".join(f"step {step}: loss {0.7 / step:.3f}\n" for step in steps)
    job.heartbeat_at = timezone.now()
    job.save(update_fields=["step", "log_tail", "heartbeat_at"])


def test_admin_watches_the_curves_of_a_running_job_grow(
    live_server: Any, page: Any, settings: Any, tmp_path: Path
) -> None:
    settings.SNAPSHOT_DIR = tmp_path / "snapshots"
    project, admin, _ = preference_data(items=4)
    snapshot = snapshot_create(project=project, params={"format": "trl"})
    job = TrainingJob.objects.create(
        kind="reward",
        project=project,
        snapshot=snapshot,
        status=TrainingJob.Status.RUNNING,
        total_steps=12,
        attempts=1,
        launched_by=f"admin:{admin.username}",
        started_at=timezone.now(),
    )
    _report(job, range(1, 4))

    base = live_server.url
    page.goto(f"{base}/login/")
    page.fill("#id_username", admin.username)
    page.fill("#id_password", "pw-admin-123456")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")
    page.goto(f"{base}/training/jobs/{job.pk}/")

    page.wait_for_selector("#charts .uplot canvas")
    titles = page.locator("#charts .u-title").all_text_contents()
    assert titles == ["loss", "accuracy"]  # loss first, as the page orders curves
    assert page.locator("#steps").text_content() == "step 3 of 12"

    # The worker reports more steps; the page polls and redraws without a reload.
    _report(job, range(4, 10))
    page.wait_for_function("() => document.getElementById('steps').textContent === 'step 9 of 12'")
    assert "step 9: loss 0.078" in page.locator("#log").text_content()
    assert page.locator("#charts .uplot").count() == 2
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/job-running.png", full_page=True)

    # The job ends: the page reloads once into its finished form (no Cancel button).
    TrainingJob.objects.filter(pk=job.pk).update(
        status=TrainingJob.Status.SUCCEEDED, step=12, finished_at=timezone.now()
    )
    page.wait_for_function("() => document.querySelector('#job').dataset.finished === '1'")
    assert page.locator("#status").text_content() == "succeeded"
    assert page.locator("text=Cancel").count() == 0
    assert page.watch.dialogs == [] and page.watch.errors == []
