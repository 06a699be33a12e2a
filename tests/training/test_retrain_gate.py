"""The promotion gate means something, on Postgres and Redis with a real worker and the tiny
model: the reward model's held-out accuracy is measured by the engine, recorded on its
version with its 95% interval, and a run whose reward model is no better than chance stops
before any policy, saying why on the retrain page; one above chance goes on to the win rate.

Chance is planted through the data, not by hand: answers that differ only past the reward
model's window (``max_length``) read as the same tokens to it, so it cannot learn them and
scores every held-out pair a tie (accuracy 0.5 exactly). The same rows are all too long to fit,
which the job page and the API count."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from feedback.models import Item, Judgement, Membership, Project, Response
from training.models import ModelVersion, RetrainRun, TrainingJob
from training.services import retrain_check, retrain_policy_save

from .conftest import FAST, FAST_GENERATE, QUESTIONS, preference_data, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ITEMS = 16
# Half the pairs held out: 8 pairs, so a model that learned (8 of 8) has a 95% interval of
# 68% to 100%, and one at chance (4 of 8) 22% to 78%.
REWARD = {**FAST, "eval_fraction": 0.5, "max_steps": 8}
# Far longer than max_length (128 tokens): what follows it is never seen.
PREAMBLE = " ".join(["Let me think about this step by step before I answer."] * 20)


def _indistinguishable_data(slug: str) -> tuple[Project, User]:
    """A project whose judged answers differ only past the reward model's window."""
    project = Project.objects.create(name=slug.title(), slug=slug, responses_per_item=2)
    admin = User.objects.create_user(f"{slug}-admin", password="pw-admin-123456")
    Membership.objects.create(project=project, user=admin, role="admin")
    judge = User.objects.create_user(f"{slug}-annotator", password="pw-annot-123456")
    Membership.objects.create(project=project, user=judge, role="annotator")
    for i in range(ITEMS):
        item = Item.objects.create(
            project=project,
            external_id=f"q{i}",
            messages=[{"role": "user", "content": f"{QUESTIONS[i % 8]} ({i})"}],
        )
        right = Response.objects.create(
            item=item, position=0, content=f"{PREAMBLE} So yes, that is right."
        )
        wrong = Response.objects.create(
            item=item, position=1, content=f"{PREAMBLE} So no, that is wrong."
        )
        Judgement.objects.create(item=item, annotator=judge, ranking=[[right.pk], [wrong.pk]])
    return project, admin


def _run_to_its_end(project: Project) -> tuple[RetrainRun, dict[str, TrainingJob]]:
    retrain_policy_save(
        project=project,
        enabled=True,
        min_new_judgements=ITEMS,
        policy_method="dpo",
        win_rate_threshold=0.0,  # any win rate promotes: only the reward gate can refuse
        eval_prompts=4,
        reward_config=REWARD,
        policy_config=FAST,
        evaluate_config=FAST_GENERATE,
        generate_after=False,
    )
    run = retrain_check(project=project, launched_by="admin:test")
    assert run is not None

    def over() -> bool:
        run.refresh_from_db()
        return run.status != RetrainRun.Status.RUNNING

    wait_for(over, timeout=600, what="the run to end", every=1.0)
    return run, {job.kind: job for job in TrainingJob.objects.filter(retrain_run=run)}


def test_a_reward_model_at_chance_stops_the_run_and_the_retrain_page_says_why(
    start_worker: Any,
) -> None:
    project, admin = _indistinguishable_data("chance")
    start_worker()
    run, jobs = _run_to_its_end(project)

    assert set(jobs) == {"reward"}, run.error  # no policy was trained against it
    assert run.status == RetrainRun.Status.STOPPED, run.error + jobs["reward"].log_tail
    reward = ModelVersion.objects.get(job=jobs["reward"])
    assert reward.heldout_accuracy == 0.5 and reward.heldout_pairs == 8
    assert reward.heldout_accuracy_low is not None and reward.heldout_accuracy_low < 0.5
    assert reward.status == "candidate" and not reward.can_judge
    assert not ModelVersion.objects.filter(project=project, status="promoted").exists()
    assert "not better than chance" in run.error and "8 pairs" in run.error

    client = Client()
    client.force_login(admin)
    page = client.get(reverse("training-retrain-policy", args=[project.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert run.get_status_display() in html and "not better than chance" in html
    registry = client.get(reverse("training-models"), {"project": project.slug}).content.decode()
    assert "cannot judge a policy" in registry
    listed = client.get(reverse("api-model", args=[reward.pk])).json()
    assert (listed["heldout_accuracy"], listed["heldout_pairs"]) == (0.5, 8)

    # Every pair was too long: trained on (truncated), none dropped, all counted.
    job = jobs["reward"]
    api = client.get(reverse("api-job", args=[job.pk])).json()
    assert api["truncation"] == {
        "truncated": ITEMS,
        "could_not_fit": ITEMS,
        "dropped": 0,
        "max_length": 128,
    }
    detail = client.get(reverse("training-job", args=[job.pk])).content.decode()
    assert f'<span id="truncated">{ITEMS}</span>' in detail
    assert f'<span id="could-not-fit">{ITEMS}</span>' in detail


def test_a_reward_model_above_chance_lets_the_win_rate_decide(start_worker: Any) -> None:
    project, _, _ = preference_data(slug="learned", items=ITEMS, annotators=1)
    start_worker()
    run, jobs = _run_to_its_end(project)

    reward = ModelVersion.objects.get(job=jobs["reward"])
    assert reward.heldout_pairs == 8
    assert reward.heldout_accuracy_low is not None and reward.heldout_accuracy_low > 0.5, (
        reward.metrics
    )
    assert set(jobs) == {"reward", "dpo", "evaluate"}, run.error
    assert run.status == RetrainRun.Status.PROMOTED, run.error
    assert 0.0 <= run.win_rate["win_rate"] <= 1.0
    assert reward.status == ModelVersion.objects.get(job=jobs["dpo"]).status == "promoted"
    # The learned pairs were short: nothing truncated.
    assert jobs["reward"].result["truncated_rows"] == 0.0
