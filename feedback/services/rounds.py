"""Rounds: what happens to an item when new candidate responses arrive for it.

A judgement is about the responses that were shown. So new candidates never join a round
that someone has judged or holds a live lease on: they open a new **round** on the item,
made of the new candidates and the earlier responses the project's ``round_compare``
picks to compare them with (``best``: the best one by the judgements so far; ``all``:
every earlier one). The item's ``judgement_count`` starts again at 0, so it re-enters the
queue for the project's overlap; earlier rounds' judgements stay as they are (and still
export, each against the responses it ranked). A lease on the earlier round stays live and
keeps showing what it showed until it ends, and does not count against the new round.

A round nobody judged or holds yet simply grows. Round 1 of an item that never had
another has no row (every response of the item is in it); it is written down when the
second round opens.
"""

from collections.abc import Mapping, Sequence
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from feedback.export.pairs import consensus_copeland
from feedback.models import Assignment, Item, Judgement, Project, Response, Round


def _round_held(*, item: Item, now: datetime) -> bool:
    """Whether the item's current round has a judgement (any version, any source) or a
    live lease: then what it shows must not change."""
    if Judgement.objects.filter(item=item, round=item.round).exists():
        return True
    return Assignment.objects.filter(
        item=item, round=item.round, status=Assignment.Status.ACTIVE, expires_at__gt=now
    ).exists()


def _best_first(*, item: Item, candidates: Sequence[int], position: Mapping[int, int]) -> list[int]:
    """``candidates`` best first by the item's current judgements (Copeland scores over
    every round: each judgement only compares what it was shown), then arrival order."""
    rankings = [
        [[pk for pk in group if pk in position] for group in ranking]
        for ranking in Judgement.objects.filter(
            item=item, is_current=True, not_rankable=False
        ).values_list("ranking", flat=True)
    ]
    rankings = [[g for g in r if g] for r in rankings if r]
    scores = consensus_copeland(rankings, position=position).scores if rankings else {}
    return sorted(candidates, key=lambda pk: (-scores.get(pk, 0), position[pk], pk))


def _compared_with(
    *, project: Project, item: Item, earlier: Sequence[int], new: Sequence[int]
) -> list[int]:
    """The earlier responses the new round shows beside ``new`` (at least two in all)."""
    if project.round_compare == Project.RoundCompare.ALL:
        return list(earlier)
    position = dict(Response.objects.filter(item=item).values_list("pk", "position"))
    ranked = _best_first(item=item, candidates=earlier, position=position)
    return ranked[: max(1, 2 - len(new))]


def candidates_arrived(
    *, project: Project, new_responses: Mapping[int, Sequence[int]], now: datetime | None = None
) -> list[int]:
    """Place newly written responses (``{item id: [response id, ...]}``) in rounds; return
    the ids of the items that opened a new round.

    Call it in the transaction that wrote the responses (it locks the items' rows, so a
    judgement or a lease racing with it waits for it or is seen by it)."""
    now = now or timezone.now()
    opened: list[int] = []
    if not new_responses:
        return opened
    with transaction.atomic():
        items = list(
            Item.objects.select_for_update().filter(pk__in=list(new_responses)).order_by("pk")
        )
        for item in items:
            new = sorted(set(new_responses[item.pk]))
            if not new:
                continue
            if not _round_held(item=item, now=now):
                if item.round > 1:
                    current = Round.objects.select_for_update().get(item=item, number=item.round)
                    current.response_ids = sorted({*current.response_ids, *new})
                    current.save(update_fields=["response_ids"])
                    Item.objects.filter(pk=item.pk).update(rm_margin=None)
                continue
            # Every earlier response may be compared with, not only the last round's.
            everything = Response.objects.filter(item=item).values_list("pk", flat=True)
            earlier = sorted(set(everything) - set(new))
            if item.round == 1:
                Round.objects.get_or_create(item=item, number=1, defaults={"response_ids": earlier})
            compared = _compared_with(project=project, item=item, earlier=earlier, new=new)
            Round.objects.create(
                item=item, number=item.round + 1, response_ids=sorted({*compared, *new})
            )
            Item.objects.filter(pk=item.pk).update(
                round=item.round + 1, judgement_count=0, disagreement=0.0, rm_margin=None
            )
            opened.append(item.pk)
    return opened


def item_rounds(*, item: Item) -> list[tuple[int, list[int]]]:
    """(round number, response ids) of every round of ``item``, oldest first."""
    rows = list(Round.objects.filter(item=item).order_by("number"))
    if not rows:
        return [(1, sorted(Response.objects.filter(item=item).values_list("pk", flat=True)))]
    return [(row.number, sorted(row.response_ids)) for row in rows]
