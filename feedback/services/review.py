"""Reviewing judgements: an admin accepts one, or rejects it.

Every action is a ``ReviewAction`` row (who, when, what, an optional note); rows are
never changed, so they are the judgement's review history.

- **Reject**: the judgement stays in the database (and in its annotator's history) but is
  no longer current, so everything that reads current judgements leaves it out: the
  export and dataset snapshots, agreement and reliability, gold accuracy. If it counted
  towards its item's overlap (a human judgement of the item's current round), the item's
  ``judgement_count`` goes down by one in the same transaction, under the item's row
  lock, so the item is back in the queue for one new judgement; the lease rule
  (judgements + live leases <= overlap) still holds, since one judgement left and no
  lease was added. The rejected annotator is not handed the item again (the next-item
  query skips items they judged), so nobody judges it twice; should they submit one on
  their own, it becomes the next version of the rejected one.
- **Accept**: marks the current judgement reviewed; a later edit by its annotator is a
  new version, not reviewed yet.

A rejected judgement cannot be accepted, nor rejected again (409); a judgement that a
newer version replaced is not the one to review (409).
"""

from django.contrib.auth.models import User
from django.db import transaction

from core.errors import Conflict, NotFound, ValidationError
from feedback.models import Item, Judgement, Project, ReviewAction
from feedback.services.assignments import annotator_lock
from feedback.services.judgements import item_disagreement_refresh

NOTE_MAX = 2_000


def _note_clean(note: str) -> str:
    note = (note or "").strip()
    if len(note) > NOTE_MAX:
        reason = f"at most {NOTE_MAX} characters"
        raise ValidationError(f"note: {reason}", details={"note": [reason]})
    return note


def _last_action(judgement_id: int) -> str | None:
    return (
        ReviewAction.objects.filter(judgement_id=judgement_id)
        .order_by("-id")
        .values_list("action", flat=True)
        .first()
    )


def _reviewable(*, project: Project, judgement_id: int) -> Judgement:
    """The judgement ``judgement_id`` of ``project``, if it is still the one to review."""
    judgement = (
        Judgement.objects.select_related("annotator")
        .filter(pk=judgement_id, item__project=project)
        .first()
    )
    if judgement is None:
        raise NotFound(f"No judgement {judgement_id} in project '{project.slug}'.")
    return judgement


def _current_check(judgement: Judgement, last: str | None) -> None:
    if judgement.is_current:
        return
    if last == ReviewAction.Action.REJECT:
        raise Conflict("This judgement was rejected already.", code="already_rejected")
    raise Conflict(
        "A newer version of this judgement replaced it; review that one.", code="superseded"
    )


def judgement_reject(
    *, project: Project, reviewer: User, judgement_id: int, note: str = ""
) -> ReviewAction:
    """Reject judgement ``judgement_id`` of ``project`` (see the module docstring)."""
    note = _note_clean(note)
    judgement = _reviewable(project=project, judgement_id=judgement_id)
    with transaction.atomic():
        # The annotator's lock, then the item's row: the order judgement_submit takes them
        # in, so a review and the annotator's own edit are serialised, never deadlocked.
        annotator_lock(project=project, user=judgement.annotator)
        item = Item.objects.select_for_update().get(pk=judgement.item_id)
        judgement.refresh_from_db(fields=["is_current"])
        _current_check(judgement, _last_action(judgement.pk))
        Judgement.objects.filter(pk=judgement.pk).update(is_current=False)
        counted = judgement.source == Judgement.Source.HUMAN and judgement.round == item.round
        if counted and item.judgement_count > 0:
            item.judgement_count -= 1
            Item.objects.filter(pk=item.pk).update(judgement_count=item.judgement_count)
        if judgement.round == item.round:
            item_disagreement_refresh(item=item, round=item.round)
        return ReviewAction.objects.create(
            project=project,
            judgement=judgement,
            action=ReviewAction.Action.REJECT,
            reviewer=reviewer,
            note=note,
        )


def judgement_accept(
    *, project: Project, reviewer: User, judgement_id: int, note: str = ""
) -> ReviewAction:
    """Accept judgement ``judgement_id`` of ``project``: it is reviewed and stays."""
    note = _note_clean(note)
    judgement = _reviewable(project=project, judgement_id=judgement_id)
    with transaction.atomic():
        annotator_lock(project=project, user=judgement.annotator)
        judgement.refresh_from_db(fields=["is_current"])
        last = _last_action(judgement.pk)
        _current_check(judgement, last)
        if last == ReviewAction.Action.ACCEPT:
            raise Conflict("This judgement was accepted already.", code="already_accepted")
        return ReviewAction.objects.create(
            project=project,
            judgement=judgement,
            action=ReviewAction.Action.ACCEPT,
            reviewer=reviewer,
            note=note,
        )
