"""Gold items: items with an expected answer, mixed blind into annotators' queues.

A gold item is served outside the overlap rule (see ``feedback.services.assignments``):
to each annotator at most once, at the project's ``gold_rate``. Its judgements measure
each annotator's gold accuracy: Kendall's tau-b between their ranking and the expected
one (rank mode), or 1/0 for the exact verdict (pairwise: A, B, tie or both bad). Gold
items are left out of exports unless the export asks for them (``include_gold``).
"""

import random
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import sql
from core.errors import PermissionDenied, ValidationError
from feedback.models import Assignment, Item, Judgement, Project, Response
from feedback.quality.metrics import tau_b
from feedback.rankings import ranking_validate
from feedback.selectors import item_response_ids

# Gold judgements an annotator needs before the threshold flags (or stops) them.
GOLD_MIN_JUDGED = 3
# The error code of the refusal to an annotator the project stops (``gold_stop_check``).
GOLD_STOP_CODE = "gold_below_threshold"


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
            if project.mode == Project.Mode.PAIRWISE and len(ids) != 2:
                # A pairwise judgement compares two responses; a gold answer must be one.
                raise ValidationError(
                    "ranking: a pairwise gold item needs exactly two responses",
                    details={"ranking": [f"the item has {len(ids)} responses, not two"]},
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


VERDICTS = ("A", "B", "tie", "both_bad")


def gold_verdict_answer(*, item: Item, verdict: Any) -> tuple[list[list[int]], bool]:
    """The expected ranking and ``both_bad`` a pairwise verdict stands for: ``A`` (the
    first response by position is better), ``B`` (the second), ``tie``, ``both_bad``."""
    if verdict not in VERDICTS:
        reason = f"must be one of {', '.join(VERDICTS)}"
        raise ValidationError(f"verdict: {reason}", details={"verdict": [reason]})
    ids = list(item.responses.order_by("position", "id").values_list("pk", flat=True))
    if len(ids) != 2:
        reason = f"a verdict compares two responses; this item has {len(ids)}"
        raise ValidationError(f"verdict: {reason}", details={"verdict": [reason]})
    first, second = ids
    if verdict == "A":
        return [[first], [second]], False
    if verdict == "B":
        return [[second], [first]], False
    return [[first, second]], verdict == "both_bad"


def gold_draw(*, project: Project) -> bool:
    """Whether this next item should be a gold one: true at the project's ``gold_rate``
    (a fresh draw per new lease, so gold comes at no pattern an annotator could learn);
    never where the project has no gold (``Project.gold_items``, read without a query)."""
    return bool(project.gold_items) and random.random() < project.gold_rate


# A lease on a gold item ``user`` was never served (no lease of theirs of any status or
# round, no judgement), picked at random, taken and returned with the item in one
# statement. No row lock: nothing caps how many annotators hold one gold item, and the
# caller holds the annotator's advisory lock, so two of their own requests cannot both
# pass the NOT EXISTS.
_GOLD_LEASE_SQL = """
WITH picked AS (
  SELECT i.id, i.round FROM {item} i
  WHERE i.project_id = %(project)s AND i.is_gold
    AND NOT EXISTS (SELECT 1 FROM {assignment} a
                    WHERE a.item_id = i.id AND a.annotator_id = %(user)s)
    AND NOT EXISTS (SELECT 1 FROM {judgement} j
                    WHERE j.item_id = i.id AND j.annotator_id = %(user)s)
    AND (SELECT count(*) FROM (SELECT 1 FROM {response} r WHERE r.item_id = i.id LIMIT 2) two) = 2
  ORDER BY random() LIMIT 1
), lease AS (
  INSERT INTO {assignment} (created_at, updated_at, item_id, annotator_id, status, round,
                            expires_at, skip_reason)
  SELECT %(created)s, %(created)s, p.id, %(user)s, %(status)s, p.round, %(expires)s, ''
  FROM picked p
  RETURNING id, item_id, round
)
SELECT {columns}, lease.id, lease.round FROM lease JOIN {item} i ON i.id = lease.item_id
"""


def gold_lease_take(*, project: Project, user: User, now: datetime) -> Assignment | None:
    """A new lease to ``user`` on a gold item of ``project`` they were never served, or
    None when none is left for them. The caller holds ``annotator_lock``."""
    created = timezone.now()
    expires = now + timedelta(minutes=project.lease_minutes)
    statement = _GOLD_LEASE_SQL.format(
        item=sql.table(Item),
        assignment=sql.table(Assignment),
        judgement=sql.table(Judgement),
        response=sql.table(Response),
        columns=sql.columns(Item, "i"),
    )
    params = {
        "project": project.pk,
        "user": user.pk,
        "created": sql.datetime_param(created),
        "status": Assignment.Status.ACTIVE,
        "expires": sql.datetime_param(expires),
    }
    found = sql.fetch_with_extra(Item, statement, params)
    if not found:
        return None
    item, (lease_id, lease_round) = found[0]
    item.project = project
    lease = Assignment(
        id=lease_id,
        item=item,
        annotator=user,
        status=Assignment.Status.ACTIVE,
        round=lease_round,
        expires_at=expires,
        created_at=created,
        updated_at=created,
    )
    lease._state.adding = False
    lease._state.db = connection.alias
    return lease


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
            f"You are paused on '{project.name}': your answers on check items score "
            f"{standing.accuracy:.2f} against the expected answers (1.00 agrees fully), "
            f"below the project's threshold of {project.gold_threshold:.2f}. "
            "Ask the project's admins to review your work.",
            code=GOLD_STOP_CODE,
            details={"gold_accuracy": standing.accuracy, "threshold": project.gold_threshold},
        )


def gold_items_q(*, include_gold: bool) -> Q:
    """Judgements to read: of ordinary items only, unless gold items are asked for too."""
    return Q() if include_gold else Q(item__is_gold=False)
