"""Scoring items for the ``uncertainty`` selection policy, off the annotators' path.

For each item, the promoted reward model scores the responses of the item's current round
(the engine's own scoring, ``training.engine.evaluate``: the same formatting the reward
trainer saw); ``Item.rm_margin`` becomes the smallest gap between two of those scores. The
next-item query of a project whose ``order`` is ``uncertainty`` serves the smallest margin
first. It runs as a Celery task on the ``gpu`` queue (it loads a model), queued after each
promotion of a reward model (every item of the project) and after new candidates (the
items that got them); never on a request.
"""

import logging
from collections.abc import Iterable, Sequence
from itertools import pairwise

from django.db import transaction

from feedback.models import Item, Project, Response, Round
from training.artifacts import artifact_absolute
from training.engine.evaluate import reward_format_load, reward_model_load
from training.engine.formatting import score_completions
from training.models import ModelVersion

logger = logging.getLogger(__name__)

SCORE_CHUNK = 64


def _promoted_reward(project: Project) -> ModelVersion | None:
    return ModelVersion.objects.filter(
        project=project, kind=ModelVersion.Kind.REWARD, status=ModelVersion.Status.PROMOTED
    ).first()


def smallest_gap(scores: Sequence[float]) -> float | None:
    """The smallest difference between two of ``scores`` (None with fewer than two)."""
    ordered = sorted(scores)
    if len(ordered) < 2:
        return None
    return min(b - a for a, b in pairwise(ordered))


def _round_responses(items: Sequence[Item]) -> dict[int, list[tuple[int, str]]]:
    """Each item's current round: (response id, content) in id order."""
    current = {item.pk: item.round for item in items}
    shown = {
        item_id: set(response_ids)
        for item_id, number, response_ids in Round.objects.filter(
            item__in=[item for item in items if item.round > 1]
        ).values_list("item_id", "number", "response_ids")
        if number == current[item_id]
    }
    out: dict[int, list[tuple[int, str]]] = {item.pk: [] for item in items}
    rows = Response.objects.filter(item__in=items).order_by("id")
    for pk, item_id, content in rows.values_list("pk", "item_id", "content"):
        if item_id not in shown or pk in shown[item_id]:
            out[item_id].append((pk, content))
    return out


def items_score_uncertainty(*, project: Project, item_ids: Iterable[int] | None = None) -> int:
    """Score the project's items (or ``item_ids`` of them) with its promoted reward model;
    return how many got a margin. Without a promoted reward model nothing changes."""
    version = _promoted_reward(project)
    if version is None:
        logger.info("no promoted reward model in %s: nothing to score", project.slug)
        return 0
    path = artifact_absolute(version.artifact_path)
    model, tokenizer = reward_model_load(path)
    fmt = reward_format_load(path, tokenizer)  # formatted exactly as in its training
    items = Item.objects.filter(project=project).order_by("id")
    if item_ids is not None:
        items = items.filter(pk__in=list(item_ids))
    scored = 0
    ids = list(items.values_list("pk", flat=True))
    for start in range(0, len(ids), SCORE_CHUNK):
        chunk = list(Item.objects.filter(pk__in=ids[start : start + SCORE_CHUNK]).order_by("id"))
        responses = _round_responses(chunk)
        pairs: list[tuple[object, object]] = []
        owners: list[int] = []
        for item in chunk:
            for _, content in responses[item.pk]:
                pairs.append((item.messages, [{"role": "assistant", "content": content}]))
                owners.append(item.pk)
        values = score_completions(model, tokenizer, fmt, pairs) if pairs else []
        by_item: dict[int, list[float]] = {}
        for owner, value in zip(owners, values, strict=True):
            by_item.setdefault(owner, []).append(value)
        with transaction.atomic():
            for item in chunk:
                margin = smallest_gap(by_item.get(item.pk, []))
                Item.objects.filter(pk=item.pk).update(rm_margin=margin)
                scored += margin is not None
    logger.info("scored %d items of %s with %s", scored, project.slug, version.label)
    return scored


def uncertainty_score_later(*, project: Project, item_ids: Sequence[int] | None = None) -> None:
    """Queue the scoring once the current transaction commits (if a reward model is
    promoted: otherwise there is nothing to score with)."""
    if _promoted_reward(project) is None:
        return
    # a service reaches a task only to queue it (tasks import services at run time)
    from training.tasks import items_score

    ids = list(item_ids) if item_ids is not None else None
    transaction.on_commit(lambda: items_score.delay(project.pk, ids))
