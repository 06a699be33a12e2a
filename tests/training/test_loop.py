"""The loop, end to end, on Postgres and Redis with a real worker and real beat:
prompts are imported, humans judge them, the retrain threshold triggers, a snapshot is
made, a reward model and a DPO policy are trained on the tiny model, evaluated and
promoted, and the new policy writes candidates that an annotator then gets as next item."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest
from django.contrib.auth.models import User

from feedback.models import Item, Response
from feedback.services.assignments import assignment_next
from feedback.services.imports import items_import
from feedback.services.judgements import judgement_submit
from feedback.services.projects import membership_set, project_create
from training.models import ModelVersion, RetrainRun, TrainingJob
from training.services import retrain_policy_save

from .conftest import BAD, FAST, FAST_GENERATE, GOOD, QUESTIONS, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]

ITEMS = 16


def _native_file(start: int, count: int) -> io.BytesIO:
    rows = [
        {
            "external_id": f"q{i}",
            "prompt": f"{QUESTIONS[i % 8]} ({i})",
            "responses": [GOOD[i % 8], BAD[i % 8]],
        }
        for i in range(start, start + count)
    ]
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())


def _judge_next(project: Any, user: User) -> Item:
    """The annotator takes their next item and prefers the first (the good) response."""
    lease = assignment_next(project=project, user=user)
    assert lease is not None, "the annotator was given nothing"
    item = lease.item
    good, bad = item.responses.order_by("position").values_list("pk", flat=True)[:2]
    judgement_submit(user=user, item=item, ranking=[[good], [bad]])
    return item


def test_feedback_retrains_promotes_and_generates_new_items_for_annotators(
    start_worker: Any, start_beat: Any
) -> None:
    project = project_create(name="Loop", slug="loop", overlap=1, responses_per_item=2)
    admin = User.objects.create_user("loop-admin", password="pw-admin-123456")
    membership_set(project=project, user=admin, role="admin")
    ann = User.objects.create_user("loop-ann", password="pw-annot-123456")
    membership_set(project=project, user=ann, role="annotator")
    items_import(project=project, source=_native_file(0, ITEMS), format="native")

    retrain_policy_save(
        project=project,
        enabled=True,
        min_new_judgements=ITEMS,
        policy_method="dpo",
        win_rate_threshold=0.0,  # the tiny model's win rate is noise: promotion must not be
        eval_prompts=4,
        check_every_seconds=1,
        # Half the pairs held out (8): a reward model that learned them clears the gate
        # (its 95% interval above 0.5); with 4, only a perfect score would.
        reward_config={**FAST, "eval_fraction": 0.5, "max_steps": 8},
        policy_config=FAST,
        evaluate_config=FAST_GENERATE,
        generate_config=FAST_GENERATE,
    )
    start_worker()
    beat = start_beat()

    for _ in range(ITEMS - 1):
        _judge_next(project, ann)
    # Below the threshold: beat checks every second and starts nothing.
    wait_for(lambda: beat.output().count("retrain_check") >= 2, timeout=60, what="beat to check")
    time.sleep(2)
    assert not RetrainRun.objects.exists()

    # New prompts arrive without answers (fewer than the project asks for).
    for n in range(2):
        Item.objects.create(
            project=project,
            external_id=f"new{n}",
            messages=[{"role": "user", "content": f"{QUESTIONS[n]} (new {n})"}],
        )
    last = _judge_next(project, ann)  # the N-th new judgement
    assert not last.external_id.startswith("new")

    run = wait_for(RetrainRun.objects.first, timeout=60, what="the threshold to start a run")
    assert run.launched_by == "schedule:retrain:loop"
    assert run.new_judgements == ITEMS
    assert run.snapshot is not None and run.snapshot.row_count == ITEMS
    assert len(run.eval_prompts) == 4

    def run_over() -> bool:
        run.refresh_from_db()
        return run.status != "running"

    wait_for(run_over, timeout=600, what="the run to finish", every=1.0)
    jobs = {job.kind: job for job in TrainingJob.objects.filter(retrain_run=run)}
    assert run.status == "promoted", run.error + "".join(j.log_tail for j in jobs.values())
    assert set(jobs) == {"reward", "dpo", "evaluate"}
    reward = ModelVersion.objects.get(job=jobs["reward"])
    policy = ModelVersion.objects.get(job=jobs["dpo"])
    assert reward.status == policy.status == "promoted"
    assert reward.heldout_pairs == 8 and reward.can_judge, reward.metrics
    assert policy.snapshot_id == reward.snapshot_id == run.snapshot_id
    assert policy.parent is None and policy.base_model  # the first policy grows from the base
    assert jobs["dpo"].holdout_prompts == run.eval_prompts
    assert jobs["evaluate"].parent_id == policy.pk
    assert jobs["evaluate"].reward_model_id == reward.pk
    assert (
        0.0 <= run.win_rate["win_rate"] <= 1.0 and run.win_rate["n"] == 4 * 2
    )  # 2 samples a prompt
    assert {"snapshot", "reward", "policy", "evaluation", "promotion"} <= set(run.timings)

    generate = wait_for(
        lambda: TrainingJob.objects.filter(
            kind="generate", status__in=TrainingJob.FINISHED
        ).first(),
        timeout=300,
        what="the generate job",
    )
    assert generate.status == "succeeded", generate.error + generate.log_tail
    assert generate.parent_id == policy.pk
    generated = Response.objects.filter(source="model", item__external_id__startswith="new")
    assert generated.count() == 4
    assert set(generated.values_list("model_name", flat=True)) == {policy.label}
    assert all(r.metadata["model_version"] == policy.pk for r in generated)

    # The generated candidates are what the annotator is handed next.
    lease = assignment_next(project=project, user=ann)
    assert lease is not None
    assert lease.item.external_id.startswith("new")
    assert lease.item.responses.filter(source="model").count() == 2
