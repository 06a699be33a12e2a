"""Reopen an item the annotator skipped: the skip becomes their live lease again."""

from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, NotFound
from feedback.models import Assignment, Item, Judgement, Project
from feedback.services.assignments import annotator_check, annotator_lock, lease_live_q


def assignment_reopen(
    *, project: Project, user: User, item: Item, now: datetime | None = None
) -> Assignment:
    """Turn ``user``'s skip of ``item`` back into a lease on it, so the workspace shows it
    next. The lease rule still holds (judgements + live leases <= overlap): when others
    took every place meanwhile it is a Conflict and the skip stays. A lease the annotator
    held on another item goes back to the pool (they asked for this one now)."""
    now = now or timezone.now()
    if item.project_id != project.pk:
        raise NotFound(f"No item {item.pk} in project '{project.slug}'.")
    annotator_check(project=project, user=user)
    with transaction.atomic():
        annotator_lock(project=project, user=user)
        locked = Item.objects.select_for_update().get(pk=item.pk)
        # Only a skip of the item's current round (feedback.services.rounds) can reopen.
        skip = (
            Assignment.objects.filter(
                item=item, annotator=user, status=Assignment.Status.SKIPPED, round=locked.round
            )
            .select_for_update()
            .order_by("-pk")
            .first()
        )
        if skip is None:
            raise NotFound("You have not skipped this item in its current round.")
        if Judgement.objects.filter(
            item=item, annotator=user, is_current=True, round=locked.round
        ).exists():
            raise Conflict("You have judged this item already.", code="already_judged")
        live = Assignment.objects.filter(
            lease_live_q(now=now), item=locked, round=locked.round
        ).count()
        # A gold item has no overlap to keep (feedback.services.gold).
        if not locked.is_gold and locked.judgement_count + live >= project.overlap:
            raise Conflict(
                "Others have taken every place on this item meanwhile; it stays skipped.",
                code="item_full",
            )
        Assignment.objects.filter(
            annotator=user, item__project=project, status=Assignment.Status.ACTIVE
        ).update(status=Assignment.Status.EXPIRED, updated_at=timezone.now())
        skip.status = Assignment.Status.ACTIVE
        skip.expires_at = now + timedelta(minutes=project.lease_minutes)
        skip.skip_reason = ""
        skip.save(update_fields=["status", "expires_at", "skip_reason", "updated_at"])
        return skip
