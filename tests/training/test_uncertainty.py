"""The uncertainty policy's scores: the promoted reward model (the tiny local model, a real
one loaded by the engine) scores each item's current round, stored on the item by the job
that promotion queues; the next item is then the one with the smallest margin."""

from __future__ import annotations

from typing import Any

import pytest
from django.conf import settings

from feedback.models import Item, Project, Response
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from feedback.services.rounds import candidates_arrived
from tests.factories import items_make, project_make, response_ids, user_make
from training.engine.evaluate import reward_format_load, reward_model_load
from training.engine.formatting import score_completions
from training.models import ModelVersion
from training.services import model_promote
from training.services.uncertainty import items_score_uncertainty, smallest_gap

pytestmark = pytest.mark.django_db


def _reward_version(project: Project, tiny_model: Any) -> ModelVersion:
    # A reward model as training leaves one: the tiny model with its (here untrained,
    # seeded) score head saved, so every load scores the same.
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    target = settings.ARTIFACT_DIR / "rm-1"
    torch.manual_seed(0)
    model = AutoModelForSequenceClassification.from_pretrained(tiny_model, num_labels=1)
    model.save_pretrained(target)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(target)
    return ModelVersion.objects.create(
        project=project, kind="reward", number=1, method="reward", artifact_path="rm-1"
    )


def test_scoring_stores_each_items_smallest_margin_of_its_current_round(
    training_env: Any, tiny_model: Any, django_capture_on_commit_callbacks: Any
) -> None:
    project = project_make(overlap=1, order=Project.Order.UNCERTAINTY)
    items = items_make(project=project, count=4, responses=3)
    version = _reward_version(project, tiny_model)
    assert items_score_uncertainty(project=project) == 0  # nothing promoted yet
    with django_capture_on_commit_callbacks() as queued:
        model_promote(version=version)
    assert len(queued) == 1  # promotion of a reward model queues the scoring job

    # A judged item gets a new candidate: its round 2 is what gets scored.
    ann = user_make("ann", project=project)
    first = items[0]
    judgement_submit(user=ann, item=first, ranking=[[pk] for pk in response_ids(first)])
    new = Response.objects.create(item=first, position=3, content="A new candidate answer.")
    candidates_arrived(project=project, new_responses={first.pk: [new.pk]})

    assert items_score_uncertainty(project=project) == 4
    model, tokenizer = reward_model_load(settings.ARTIFACT_DIR / "rm-1")
    fmt = reward_format_load(settings.ARTIFACT_DIR / "rm-1", tokenizer)
    for item in Item.objects.filter(project=project):
        shown = (
            item.rounds.get(number=item.round).response_ids
            if item.round > 1
            else response_ids(item)
        )
        contents = dict(Response.objects.filter(item=item).values_list("pk", "content"))
        pairs = [(item.messages, [{"role": "assistant", "content": contents[pk]}]) for pk in shown]
        expected = smallest_gap(score_completions(model, tokenizer, fmt, pairs))
        assert item.rm_margin == pytest.approx(expected, abs=1e-5)
    assert Item.objects.get(pk=first.pk).round == 2

    # The next item under the uncertainty policy is the one with the smallest margin (the
    # item in round 2 is open again too).
    margins = {pk: m for pk, m in Item.objects.values_list("pk", "rm_margin") if m is not None}
    lease = assignment_next(project=project, user=user_make("bob", project=project))
    assert lease is not None and lease.item_id == min(margins, key=lambda pk: margins[pk])
