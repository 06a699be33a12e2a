"""Gold items: items with an expected answer, mixed blind into annotators' queues.

A gold item is served outside the overlap rule (see ``feedback.services.assignments``):
to each annotator at most once, at the project's ``gold_rate``. Its judgements measure
each annotator's gold accuracy: Kendall's tau-b between their ranking and the expected
one (rank mode), or 1/0 for the exact verdict (pairwise: A, B, tie or both bad). Gold
items are left out of exports unless the export asks for them (``include_gold``).
"""

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.db.models import Q

from core.errors import PermissionDenied, ValidationError
from feedback.models import Item, Judgement, Project
from feedback.quality.metrics import tau_b
from feedback.selectors import item_response_ids
from feedback.services.judgements import ranking_validate

# Gold judgements an annotator needs before the threshold flags (or stops) them.
GOLD_MIN_JUDGED = 3


def project_gold_count_refresh(*, project: Project) -> int:
    """Recount the project's gold items into ``Project.gold_items`` (in the caller's
    transaction); the next-item path reads that column instead of counting."""
    count = Item.objects.filter(project=project, is_gold=True).count()
    Project.objects.filter(pk=project.pk).update(gold_items=count)
    project.gold_items = count
    return count


def item_gold_set(
    *, item: Item, ranking: Any | None, both_bad: bool = False, clear: bool = False
) -> Item:
    """Mark ``item`` gold with its expected ``ranking`` (response ids, best first; ties
    allowed; pairwise: ``both_bad`` too), or ``clear`` it back to an ordinary item."""
    project = item.project
    with transaction.atomic():
        if clear:
            item.is_gold, item.gold_ranking, item.gold_both_bad = False, None, False
        else:
            if ranking is None:
                raise ValidationError(
                    "ranking: the expected ranking is required",
                    details={"ranking": ["is required to mark an item gold"]},
                )
            ids = item_response_ids(item=item)
            if len(ids) < 2:
                raise ValidationError(
                    "ranking: an item needs two responses to be gold",
                    details={"ranking": ["the item has fewer than two responses"]},
                )
            cleaned = ranking_validate(ranking=ranking, response_ids=ids)
            if both_bad and (project.mode != Project.Mode.PAIRWISE or len(cleaned) != 1):
                raise ValidationError(
                    "both_bad: only a pairwise tie can be 'both bad'",
                    details={"both_bad": ["only a pairwise tie can be 'both bad'"]},
                )
            item.is_gold, item.gold_ranking, item.gold_both_bad = True, cleaned, bool(both_bad)
        item.save(update_fields=["is_gold", "gold_ranking", "gold_both_bad", "updated_at"])
        project_gold_count_refresh(project=project)
    return item


def gold_score(
    *,
    mode: str,
    ranking: list[list[int]],
    both_bad: bool,
    gold_ranking: list[list[int]],
    gold_both_bad: bool,
) -> float | None:
    """How well one judgement matches the expected answer: 1/0 for the exact pairwise
    verdict; tau-b (-1 to 1) for a ranking, None where tau-b is undefined (either side
    ties every response)."""
    if mode == Project.Mode.PAIRWISE:
        same = _groups(ranking) == _groups(gold_ranking) and both_bad == gold_both_bad
        return 1.0 if same else 0.0
    return tau_b(ranking, gold_ranking)


def _groups(ranking: list[list[int]]) -> list[frozenset[int]]:
    return [frozenset(g) for g in ranking]


@dataclass(frozen=True)
class GoldStanding:
    judged: int
    accuracy: float | None  # mean gold score; None before any scorable gold judgement
    misses: int  # pairwise: wrong verdicts; rank mode: tau-b below 1
    flagged: bool  # below the project's threshold, with at least GOLD_MIN_JUDGED judged


def gold_standings(
    *, project: Project, user_ids: list[int] | None = None
) -> dict[int, GoldStanding]:
    """Each annotator's gold accuracy in ``project`` (current judgements of gold items)."""
    judgements = Judgement.objects.filter(
        item__project=project, item__is_gold=True, is_current=True, not_rankable=False
    )
    if user_ids is not None:
        judgements = judgements.filter(annotator_id__in=user_ids)
    scores: dict[int, list[float]] = {}
    for annotator_id, ranking, both_bad, gold_ranking, gold_both_bad in judgements.values_list(
        "annotator_id", "ranking", "both_bad", "item__gold_ranking", "item__gold_both_bad"
    ):
        score = gold_score(
            mode=project.mode,
            ranking=ranking,
            both_bad=both_bad,
            gold_ranking=gold_ranking or [],
            gold_both_bad=gold_both_bad,
        )
        scores.setdefault(annotator_id, [])
        if score is not None:
            scores[annotator_id].append(score)
    out: dict[int, GoldStanding] = {}
    for annotator_id, values in scores.items():
        accuracy = sum(values) / len(values) if values else None
        flagged = (
            project.gold_threshold is not None
            and accuracy is not None
            and len(values) >= GOLD_MIN_JUDGED
            and accuracy < project.gold_threshold
        )
        out[annotator_id] = GoldStanding(
            judged=len(values),
            accuracy=accuracy,
            misses=sum(1 for v in values if v < 1.0),
            flagged=flagged,
        )
    return out


def gold_stop_check(*, project: Project, user: User) -> None:
    """Refuse new items to an annotator below the gold threshold, where the project stops
    them (``gold_stop``); a no-op (no query) otherwise."""
    if not project.gold_stop or project.gold_threshold is None or not project.gold_items:
        return
    standing = gold_standings(project=project, user_ids=[user.pk]).get(user.pk)
    if standing is not None and standing.flagged:
        assert standing.accuracy is not None
        raise PermissionDenied(
            f"You are paused on '{project.name}': your answers on check items agree "
            f"{standing.accuracy:.0%} with the expected ones, below the project's "
            f"{project.gold_threshold:.0%}. Ask the project's admins to review your work.",
            code="gold_below_threshold",
            details={"gold_accuracy": standing.accuracy, "threshold": project.gold_threshold},
        )


def gold_items_q(*, include_gold: bool) -> Q:
    """Judgements to read: of ordinary items only, unless gold items are asked for too."""
    return Q() if include_gold else Q(item__is_gold=False)
