"""Training at a glance, in a real browser: launch a job from the form after fixing an
error without retyping, watch it run on a real Celery worker until it finishes, promote
the version in the registry; the job page's curves read right for negative and tiny
values and draw evaluation beside training."""

import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from tests.browser.conftest import log_in
from tests.training.conftest import (  # noqa: F401  (fixtures)
    FAST,
    celery_env,
    preference_data,
    start_worker,
    tiny_model,
    training_env,
)
from training.models import JobMetric, ModelVersion, TrainingJob
from training.services.snapshots import snapshot_create

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ADMIN_PASSWORD = "pw-admin-123456"


def test_admin_launches_a_job_after_fixing_an_error_watches_it_finish_and_promotes_it(
    live_server: Any,
    page: Any,
    start_worker: Any,  # noqa: F811
) -> None:
    _project, admin, _ = preference_data(items=8)
    other, _, _ = preference_data(slug="other", items=2)
    snapshot_create(project=other, params={"format": "trl"})  # not offered for `loop`
    worker = start_worker()
    base = live_server.url
    log_in(page, base, admin.username, ADMIN_PASSWORD)
    page.goto(f"{base}/training/jobs/new/")
    # Defaults that run: the project has no snapshot yet, so "make one now" is ticked.
    assert page.locator("#fresh-snapshot").is_checked()
    page.select_option("#kind", "reward")
    for name, value in FAST.items():
        page.fill(f"#config-reward-{name}", str(value))
    page.fill("#config-reward-max_steps", "four")
    page.fill("#config-reward-learning_rate", "fast")
    page.click("#job-form button[type=submit]")
    errors = page.locator("#job-errors")
    errors.wait_for()
    text = errors.inner_text()
    # Every error at once, in words: no "config.max_steps: max_steps: ...".
    assert "max steps" in text and "learning rate" in text
    assert "config." not in text and "max_steps:" not in text
    assert not TrainingJob.objects.exists()
    # What was typed is still there; fix the two fields only.
    assert page.input_value("#config-reward-save_steps") == str(FAST["save_steps"])
    assert page.input_value("#config-reward-max_steps") == "four"
    assert page.locator("#fresh-snapshot").is_checked()
    page.fill("#config-reward-max_steps", str(FAST["max_steps"]))
    page.fill("#config-reward-learning_rate", str(FAST["learning_rate"]))
    page.click("#job-form button[type=submit]")
    page.wait_for_url(re.compile(r".*/training/jobs/\d+/$"))
    job = TrainingJob.objects.get()
    assert job.config["max_steps"] == FAST["max_steps"] and job.snapshot is not None

    # The page follows the job on the worker until it has finished.
    try:
        page.wait_for_function(
            "() => document.querySelector('#job').dataset.finished === '1'", timeout=240_000
        )
    except Exception:
        job.refresh_from_db()
        seen = f"job {job.status}: {job.log_tail}\n{worker.output()[-3000:]}"
        raise AssertionError(seen) from None
    assert page.locator("#status").text_content() == "succeeded"
    assert page.locator("#ended").text_content() != "—"
    assert re.search(r"\d+ s", page.locator("#duration").text_content() or "")
    page.locator("#charts .uplot").first.wait_for()
    version = ModelVersion.objects.get(job=job)

    # The registry, filtered to the project: the lineage graph, then promote.
    page.goto(f"{base}/training/models/")
    page.select_option("#model-project", "loop")
    page.click("#model-filter button[type=submit]")
    row = page.locator(f"#models tr[data-version='{version.pk}']")
    graph = row.locator("svg.lineage-graph")
    assert f"snapshot #{job.snapshot_id}" in (graph.text_content() or "")
    assert version.label in (graph.text_content() or "")
    assert "learning_rate" not in row.inner_text() and "epoch" not in row.inner_text()
    row.get_by_role("button", name="Promote").click()
    page.get_by_text(f"Promoted {version.label}").wait_for()
    assert "project=loop" in page.url
    version.refresh_from_db()
    assert version.status == "promoted"

    # The next job's form offers the new reward model only where one fits.
    page.goto(f"{base}/training/jobs/new/")
    option = page.locator(f"#job-parent option[value='{version.pk}']")
    page.select_option("#kind", "dpo")
    assert option.is_disabled()  # no reward model as a DPO parent
    page.select_option("#kind", "reward")
    assert option.is_enabled()
    assert page.locator("#job-snapshot").input_value() == str(job.snapshot_id)  # the latest
    assert not page.locator("#fresh-snapshot").is_checked()
    assert page.watch.errors == [] and page.watch.dialogs == []


def test_job_curves_read_right_for_negative_and_tiny_values_and_pair_evaluation(
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
        total_steps=20,
        attempts=1,
        launched_by=f"admin:{admin.username}",
        started_at=timezone.now(),
    )
    log_in(page, live_server.url, admin.username, ADMIN_PASSWORD)
    page.goto(f"{live_server.url}/training/jobs/{job.pk}/")
    assert page.locator("#steps").text_content() == "starting…"
    rows = []
    for step in range(1, 11):
        rows += [
            JobMetric(job=job, step=step, name="loss", value=0.7 - 0.01 * step),
            JobMetric(job=job, step=step, name="rewards/margins", value=-0.019 + 0.001 * step),
            JobMetric(job=job, step=step, name="learning_rate", value=5e-6 * (1 - step / 20)),
            JobMetric(job=job, step=step, name="epoch", value=step / 10),
        ]
        if step % 5 == 0:
            rows.append(JobMetric(job=job, step=step, name="eval_loss", value=0.72 - 0.01 * step))
    JobMetric.objects.bulk_create(rows)
    TrainingJob.objects.filter(pk=job.pk).update(step=10)
    page.wait_for_function("() => document.getElementById('steps').textContent === 'step 10 of 20'")
    page.locator("#charts .chart[data-metric='rewards/margins']").wait_for()
    shown = page.locator("#charts .chart").evaluate_all("els => els.map(e => e.dataset.metric)")
    assert shown == ["loss", "rewards/margins"]  # meaningful ones only, by default
    # Evaluation beside training: the loss chart has both series.
    legend = page.locator("#charts .chart[data-metric='loss'] .u-legend").inner_text()
    assert "eval loss" in legend
    ticks = page.evaluate("() => window.jobCharts['rewards/margins'].axes[1]._values")
    assert any(t.startswith("-0.01") for t in ticks), ticks
    page.check("#all-curves")
    page.locator("#charts .chart[data-metric='learning_rate']").wait_for()
    lr_ticks = page.evaluate("() => window.jobCharts['learning_rate'].axes[1]._values")
    assert all(t == "0" or "e-6" in t for t in lr_ticks), lr_ticks
    assert page.locator("#charts .chart[data-metric='epoch']").count() == 1
    assert page.watch.errors == []
