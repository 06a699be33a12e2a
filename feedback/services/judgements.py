"""Judgements: what a valid ranking is (shared by every door) and recording one."""

import json
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from core import sql
from core.errors import Conflict, NotFound, ValidationError
from feedback.export.pairs import agreement, consensus_copeland
from feedback.models import Assignment, Item, Judgement, Project
from feedback.rankings import Ranking, ranking_validate
from feedback.selectors import round_response_ids

__all__ = ["Ranking", "judgement_clean", "judgement_submit", "ranking_validate"]


RATIONALE_MAX = 20_000
FLAG_REASON_MAX = 2_000
TIME_SPENT_MAX_MS = 24 * 60 * 60 * 1000


def _invalid(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}: {reason}", details={field: [reason]})


def _ids_validate(*, value: Any, allowed: Collection[int], field: str) -> list[int]:
    """A list of distinct response ids, each one of ``allowed``."""
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise _invalid(field, "must be a list of response ids")
    ids: list[int] = []
    for entry in value:
        if isinstance(entry, bool) or not isinstance(entry, int):
            raise _invalid(field, f"{entry!r} is not a response id")
        if entry not in allowed:
            raise _invalid(field, f"response {entry} does not belong to this item")
        if entry in ids:
            raise _invalid(field, f"response {entry} appears more than once")
        ids.append(entry)
    return ids


def _ratings_validate(*, ratings: Any, rated: Collection[int], scale: int) -> dict[str, int]:
    """Ratings keyed by response id (int or its string, as JSON gives it), 1..scale."""
    if not isinstance(ratings, Mapping):
        raise _invalid("ratings", "must map response ids to ratings")
    cleaned: dict[str, int] = {}
    for key, value in ratings.items():
        try:
            response_id = int(key)
        except (TypeError, ValueError):
            raise _invalid("ratings", f"{key!r} is not a response id") from None
        if response_id not in rated:
            raise _invalid("ratings", f"response {response_id} was not shown")
        if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= scale:
            raise _invalid("ratings", f"rating of response {response_id} must be 1 to {scale}")
        cleaned[str(response_id)] = value
    missing = sorted(set(rated) - {int(k) for k in cleaned})
    if missing:
        raise _invalid("ratings", f"responses {missing} are not rated")
    return cleaned


def judgement_clean(
    *,
    project: Project,
    response_ids: Collection[int],
    ranking: Any,
    both_bad: bool,
    ratings: Any,
    rationale: str,
    not_rankable: bool,
    flag_reason: str,
    shown_order: Any,
    time_spent_ms: Any,
) -> dict[str, Any]:
    """Check one submission against the project's settings; return the model fields."""
    shown = (
        _ids_validate(value=shown_order, allowed=response_ids, field="shown_order")
        if shown_order
        else []
    )
    compared: list[int] = list(response_ids)
    if project.mode == Project.Mode.PAIRWISE:
        if shown:
            if len(shown) != 2:
                raise _invalid("shown_order", "a pairwise judgement shows exactly two responses")
            compared = shown
        elif len(response_ids) != 2 and not not_rankable:
            raise _invalid("shown_order", "name the two responses that were compared")
    else:
        if both_bad:
            raise _invalid("both_bad", "only pairwise projects have a 'both bad' verdict")
        if shown and set(shown) != set(response_ids):
            raise _invalid("shown_order", "must list every response of the item once")

    rationale = (rationale or "").strip()
    flag_reason = (flag_reason or "").strip()
    if len(rationale) > RATIONALE_MAX:
        raise _invalid("rationale", f"at most {RATIONALE_MAX} characters")
    if len(flag_reason) > FLAG_REASON_MAX:
        raise _invalid("flag_reason", f"at most {FLAG_REASON_MAX} characters")
    if project.rationale == Project.Rationale.OFF and rationale:
        raise _invalid("rationale", "this project does not ask for a rationale")
    if time_spent_ms is not None and (
        isinstance(time_spent_ms, bool)
        or not isinstance(time_spent_ms, int)
        or not 0 <= time_spent_ms <= TIME_SPENT_MAX_MS
    ):
        raise _invalid("time_spent_ms", f"must be a whole number from 0 to {TIME_SPENT_MAX_MS}")

    if not_rankable:
        if ranking:
            raise _invalid("ranking", "leave it empty when the item cannot be ranked")
        if not flag_reason:
            raise _invalid("flag_reason", "say why the item cannot be ranked")
        if both_bad:
            raise _invalid("both_bad", "an item that cannot be ranked has no verdict")
        return {
            "ranking": [],
            "both_bad": False,
            "ratings": {},
            "rationale": rationale,
            "not_rankable": True,
            "flag_reason": flag_reason,
            "shown_order": shown,
            "time_spent_ms": time_spent_ms,
        }

    if ranking is None or ranking == []:
        raise _invalid("ranking", "is required (or flag the item as one that cannot be ranked)")
    cleaned_ranking = ranking_validate(ranking=ranking, response_ids=compared)
    if project.ask_ratings:
        cleaned_ratings = _ratings_validate(
            ratings=ratings or {}, rated=compared, scale=project.rating_scale
        )
    elif ratings:
        raise _invalid("ratings", "this project does not ask for ratings")
    else:
        cleaned_ratings = {}
    if project.rationale == Project.Rationale.REQUIRED and not rationale:
        raise _invalid("rationale", "this project asks for a rationale with every judgement")
    return {
        "ranking": cleaned_ranking,
        "both_bad": bool(both_bad),
        "ratings": cleaned_ratings,
        "rationale": rationale,
        "not_rankable": False,
        "flag_reason": flag_reason,
        "shown_order": shown,
        "time_spent_ms": time_spent_ms,
    }


def judgement_submit(
    *,
    user: User,
    item: Item,
    ranking: list[list[int]] | None,
    both_bad: bool = False,
    ratings: dict[int, int] | None = None,
    rationale: str = "",
    not_rankable: bool = False,
    flag_reason: str = "",
    shown_order: list[int] | None = None,
    time_spent_ms: int | None = None,
    round: int | None = None,
    now: datetime | None = None,
) -> Judgement:
    """Record ``user``'s judgement of ``item``: a new one, or a new version of their current
    one (the old version is kept, no longer current).

    A judgement is of one round of the item (feedback.services.rounds): ``round`` when
    given (the change page names it), else the round of the user's lease on the item,
    else the newest round they judged (a change), else the item's current round. It is
    checked against the responses shown in it: a change against the set its current
    version was shown, a new judgement against the round's responses; a response added
    later is never part of it.

    A first judgement of the current round counts towards the item's overlap. It is taken
    while the user holds a live lease on the item; without one (it expired, or was never
    asked for) it is taken only if the item still needs it, counting others' live leases,
    and is refused with Conflict (409) otherwise. A first judgement of an earlier round is
    taken only under a live lease of that round (an item held while a new round opened).
    Bad input raises ValidationError naming the field.
    """
    # Late import: assignments imports the selectors, which import the models only.
    from feedback.services.assignments import annotator_check, annotator_lock, lease_live_q

    now = now or timezone.now()
    project = item.project
    annotator_check(project=project, user=user)
    if round is not None and (isinstance(round, bool) or not isinstance(round, int) or round < 1):
        raise _invalid("round", "must be a round number (1 or more)")
    with transaction.atomic():
        annotator_lock(project=project, user=user)
        judgement_count, item_round, gold, mine, rejected = _item_lock(item=item, user=user)
        if round is not None and round > item_round:
            raise _invalid("round", f"the item has {item_round} round(s), not {round}")
        # The user's lease on the item (of the round judged), if any, is now spent: mark it
        # and read its expiry and round in one statement (rolled back with the rest if the
        # judgement is refused).
        lease_expires, lease_round = _lease_submit(item=item, user=user, round=round)
        if round is not None:
            judged = round
        elif lease_round is not None:
            judged = lease_round
        elif mine:
            judged = max(mine)
        else:
            judged = item_round
        current = mine.get(judged)
        if current is not None and current.shown:
            response_ids = current.shown
        else:
            item.round = item_round
            response_ids = round_response_ids(item=item, number=judged)
            if not response_ids:
                raise _invalid("round", f"round {judged} of this item shows no responses")
        fields = judgement_clean(
            project=project,
            response_ids=response_ids,
            ranking=ranking,
            both_bad=both_bad,
            ratings=ratings,
            rationale=rationale,
            not_rankable=not_rankable,
            flag_reason=flag_reason,
            shown_order=shown_order,
            time_spent_ms=time_spent_ms,
        )
        lease_live = lease_expires is not None and lease_expires > now
        judgement = Judgement(
            item=item, annotator=user, source=Judgement.Source.HUMAN, round=judged, **fields
        )
        counted = judged == item_round
        if current is None:
            if not counted and not lease_live:
                raise Conflict(
                    f"Round {judged} of this item is closed; your lease on it had expired.",
                    code="not_needed",
                    details={"item": item.pk, "round": judged},
                )
            if counted and not lease_live and not gold:  # gold has no overlap to keep
                others = (
                    Assignment.objects.filter(lease_live_q(now=now), item=item, round=judged)
                    .exclude(annotator=user)
                    .count()
                )
                if judgement_count + others >= project.overlap:
                    raise Conflict(
                        "This item already has the judgements it needs; "
                        "your lease on it had expired.",
                        code="not_needed",
                        details={"item": item.pk},
                    )
            tail = rejected.get(judged)
            if tail is not None:
                # A reviewer rejected their earlier judgement (feedback.services.review):
                # this one is its next version, so the history stays one chain.
                judgement.version = tail.version + 1
                judgement.previous_id = tail.pk
            judgement.save(force_insert=True)
            if counted:
                judgement_count += 1
                _item_count_add(item=item)
        else:
            Judgement.objects.filter(pk=current.pk).update(is_current=False)
            judgement.version = current.version + 1
            judgement.previous_id = current.pk
            judgement.save(force_insert=True)
        if counted and 2 <= judgement_count < project.overlap:
            _disagreement_update(item=item, round=judged)
    return judgement


@dataclass(frozen=True)
class _Current:
    pk: int
    version: int
    shown: list[int]  # the responses its version was shown (or ranked), or [] if unknown


def _json_value(value: Any) -> Any:
    return json.loads(value) if isinstance(value, str | bytes) else value


def _item_lock(
    *, item: Item, user: User
) -> tuple[int, int, bool, dict[int, _Current], dict[int, _Current]]:
    """Lock ``item``'s row; return its judgement count, its current round, whether it is
    gold, ``user``'s current judgements of it by round and their rejected ones that no
    version followed (a judgement neither current nor followed by a newer version was
    rejected by a reviewer). The caller holds the annotator's lock, so their judgements
    cannot change under this statement's snapshot.

    Written out because the ORM cannot say it in one statement (``FOR UPDATE OF`` the item
    over a LEFT JOIN): as two, every submit would pay a second round trip under the lock."""
    lock = " FOR UPDATE OF i" if connection.features.has_select_for_update_of else ""
    table = sql.table(Judgement)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT i.judgement_count, i.round, i.is_gold, j.id, j.version, j.round, "
            f"j.shown_order, j.ranking, j.is_current FROM {sql.table(Item)} i "
            f"LEFT JOIN {table} j ON j.item_id = i.id AND j.annotator_id = %s "
            f"AND (j.is_current OR NOT EXISTS (SELECT 1 FROM {table} n WHERE n.previous_id = j.id))"
            " WHERE i.id = %s" + lock,
            [user.pk, item.pk],
        )
        rows = cursor.fetchall()
    if not rows:
        raise NotFound(f"No item {item.pk}.")
    count, item_round, gold = rows[0][0], rows[0][1], bool(rows[0][2])
    mine: dict[int, _Current] = {}
    rejected: dict[int, _Current] = {}
    for _, _, _, pk, version, judged, shown_order, ranking, is_current in rows:
        if pk is None:
            continue
        if not is_current:
            if judged not in rejected or rejected[judged].version < version:
                rejected[judged] = _Current(pk=pk, version=version, shown=[])
            continue
        shown = [v for v in _json_value(shown_order) or [] if isinstance(v, int)]
        if not shown:
            ranked = _json_value(ranking) or []
            shown = [v for g in ranked if isinstance(g, list) for v in g if isinstance(v, int)]
        mine[judged] = _Current(pk=pk, version=version, shown=sorted(set(shown)))
    return count, item_round, gold, mine, rejected


def _item_count_add(*, item: Item) -> None:
    Item.objects.filter(pk=item.pk).update(judgement_count=F("judgement_count") + 1)


def item_disagreement_refresh(*, item: Item, round: int) -> None:
    """Store the round's disagreement again (a reviewer took a judgement out of it); the
    caller holds the item's row lock."""
    _disagreement_update(item=item, round=round)


def _disagreement_update(*, item: Item, round: int) -> None:
    """Store how far the round's current human judgements disagree (1 - their agreement
    with their Copeland consensus): the ``disagreement`` selection policy reads it. Only
    while the item is still open and has two judgements or more (the item row is locked)."""
    rankings = [
        r
        for r in (
            _json_value(value)
            for value in Judgement.objects.filter(
                item=item,
                round=round,
                is_current=True,
                source=Judgement.Source.HUMAN,
                not_rankable=False,
            ).values_list("ranking", flat=True)
        )
        if r
    ]
    score = 0.0
    if len(rankings) >= 2:
        score = 1.0 - agreement(rankings, consensus_copeland(rankings).ranking)
    Item.objects.filter(pk=item.pk).update(disagreement=score)


def _lease_submit(
    *, item: Item, user: User, round: int | None
) -> tuple[datetime | None, int | None]:
    """Mark ``user``'s active lease on ``item`` (of ``round`` when given) submitted; return
    when it expires(d) and its round. Written out for ``UPDATE ... RETURNING``, which the
    ORM lacks (it would take a locked read and an update)."""
    only_round = "" if round is None else " AND round = %s"
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {sql.table(Assignment)} SET status = %s, updated_at = %s "
            "WHERE item_id = %s AND annotator_id = %s AND status = %s"
            + only_round
            + " RETURNING expires_at, round",
            [
                Assignment.Status.SUBMITTED,
                sql.datetime_param(timezone.now()),
                item.pk,
                user.pk,
                Assignment.Status.ACTIVE,
                *([] if round is None else [round]),
            ],
        )
        row = cursor.fetchone()
    return (None, None) if row is None else (sql.datetime_value(row[0]), row[1])
