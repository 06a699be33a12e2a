"""Handing items out to annotators: leases that never over-assign an item.

An item needs ``project.overlap`` judgements from distinct annotators. A *live lease*
is an ``Assignment`` with ``status=active`` and ``expires_at`` after now; it reserves
one of the item's remaining places. The rule kept here under concurrency is

    current human judgements + live leases <= overlap            (for every item)

and one annotator never holds two leases on, nor judges twice, one item.

How it stays true with many annotators asking at once (Postgres):
- an annotator's own requests are serialised by a transaction-level advisory lock
  on (project, annotator), so a double click cannot fetch two leases;
- candidate items are locked with ``SELECT ... FOR UPDATE SKIP LOCKED``: two
  annotators never weigh the same item at the same moment, and neither waits;
- once an item is locked, its live leases are counted again in a fresh statement
  (a read-committed snapshot taken after the lock), because the candidate query's
  own snapshot may predate a lease committed a moment earlier;
- ``Item.judgement_count`` (current human judgements) is changed only by
  ``feedback.services.judgements`` while the item row is locked, in the same
  transaction as the judgement, and lets the candidate query walk an index in
  "closest to completion, then oldest" order instead of counting a whole project.
Leases are not counted in a column: they expire by the clock, so they are counted
(per locked item, through an index) where they matter. On SQLite the database takes
its write lock at BEGIN (``transaction_mode=IMMEDIATE``), so the same code is simply
serial there; ``skip_locked`` is ignored.
"""

import random
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Count, Q
from django.utils import timezone

from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from feedback.models import Assignment, Item, Judgement, Project
from feedback.selectors import project_may_annotate

# How many candidates one query locks at a time; more only when some turn out taken.
CANDIDATE_BATCH = 3
SKIP_REASON_MAX = 2000


def lease_live_q(*, now: datetime, prefix: str = "") -> Q:
    """The condition for a live lease (``prefix`` reaches an Assignment through a relation)."""
    return Q(**{f"{prefix}status": Assignment.Status.ACTIVE, f"{prefix}expires_at__gt": now})


def annotator_lock(*, project: Project, user: User) -> None:
    """Serialise one annotator's assignment work in one project until the transaction ends."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s, %s)",
                [project.pk % 2**31, int(user.pk) % 2**31],
            )


def annotator_check(*, project: Project, user: User) -> None:
    if not project_may_annotate(user=user, project=project):
        raise PermissionDenied(f"You are not an annotator of project '{project.slug}'.")


# The next-item query, written out: it runs on every request for an item, and the ORM
# took longer to compile it than Postgres takes to run it. Table names come from the
# models; every value is a parameter.
_CANDIDATES_SQL = """
SELECT {columns} FROM {item} i
WHERE i.project_id = %(project)s AND i.judgement_count < %(overlap)s {range}
  AND NOT EXISTS (SELECT 1 FROM {judgement} j
                  WHERE j.item_id = i.id AND j.annotator_id = %(user)s)
  AND NOT EXISTS (SELECT 1 FROM {assignment} a
                  WHERE a.item_id = i.id AND a.annotator_id = %(user)s
                    AND a.status IN (%(skipped)s, %(submitted)s))
  AND i.judgement_count + (SELECT count(*) FROM {assignment} a
                           WHERE a.item_id = i.id AND a.status = %(active)s
                             AND a.expires_at > %(now)s) < %(overlap)s
ORDER BY {order}
LIMIT %(limit)s {lock}
"""


def _lock_next(*, project: Project, user: User, now: datetime, exclude: list[int]) -> list[Item]:
    """Lock and return up to CANDIDATE_BATCH items of ``project`` that, as far as this
    statement's snapshot knows, still need a judgement from ``user`` (not complete, not
    judged or skipped by them, not fully leased), in the project's order. Rows another
    transaction holds are skipped, not waited for."""
    params: dict[str, object] = {
        "project": project.pk,
        "overlap": project.overlap,
        "user": user.pk,
        "skipped": Assignment.Status.SKIPPED,
        "submitted": Assignment.Status.SUBMITTED,
        "active": Assignment.Status.ACTIVE,
        "now": connection.ops.adapt_datetimefield_value(now),
        "limit": CANDIDATE_BATCH,
    }
    excluded = ""
    if exclude:
        excluded = " AND i.id NOT IN ({})".format(
            ", ".join(f"%(x{n})s" for n in range(len(exclude)))
        )
        params.update({f"x{n}": pk for n, pk in enumerate(exclude)})
    lock = ""
    if connection.features.has_select_for_update_skip_locked:
        lock = "FOR UPDATE OF i SKIP LOCKED"

    def run(range_sql: str, order: str, **extra: object) -> list[Item]:
        sql = _CANDIDATES_SQL.format(
            columns=", ".join(f"i.{f.column}" for f in Item._meta.concrete_fields),
            item=Item._meta.db_table,
            judgement=Judgement._meta.db_table,
            assignment=Assignment._meta.db_table,
            range=range_sql + excluded,
            order=order,
            lock=lock,
        )
        return list(Item.objects.raw(sql, {**params, **extra}))

    if project.order == Project.Order.RANDOM:
        # Start at a random item and go round: uses the (project, id) index, no sort.
        bounds = Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True)
        low, high = bounds.first(), bounds.last()
        if low is None or high is None:
            return []
        pivot = random.randint(low, high)
        found = run("AND i.id >= %(pivot)s", "i.id", pivot=pivot)
        if len(found) < CANDIDATE_BATCH:
            found += run("AND i.id < %(pivot)s", "i.id", pivot=pivot)[
                : CANDIDATE_BATCH - len(found)
            ]
        return found
    return run("", "i.judgement_count DESC, i.id")


def assignment_next(
    *, project: Project, user: User, now: datetime | None = None
) -> Assignment | None:
    """The annotator's live lease in ``project``: the one they hold, or a new one on the
    next item that needs them; None when nothing is left for them."""
    now = now or timezone.now()
    annotator_check(project=project, user=user)
    with transaction.atomic():
        annotator_lock(project=project, user=user)
        mine = list(
            Assignment.objects.filter(
                annotator=user, item__project=project, status=Assignment.Status.ACTIVE
            )
            .select_related("item")
            .order_by("expires_at", "pk")
        )
        ran_out = [lease.pk for lease in mine if lease.expires_at <= now]
        if ran_out:
            # Back to the pool (others already ignore them by the clock); marked so that
            # this annotator may be offered the item again under the one-active rule.
            Assignment.objects.filter(pk__in=ran_out).update(
                status=Assignment.Status.EXPIRED, updated_at=timezone.now()
            )
        held = next((lease for lease in mine if lease.expires_at > now), None)
        if held is not None:
            held.item.project = project
            return held

        checked: list[int] = []
        while True:
            batch = _lock_next(project=project, user=user, now=now, exclude=checked)
            if not batch:
                return None
            # Count live leases again now the rows are locked: this statement's snapshot is
            # newer than any lease committed before we took the locks.
            leased = dict(
                Assignment.objects.filter(lease_live_q(now=now), item__in=[i.pk for i in batch])
                .order_by()
                .values_list("item")
                .annotate(n=Count("pk"))
                .values_list("item", "n")
            )
            for item in batch:
                if item.judgement_count + leased.get(item.pk, 0) < project.overlap:
                    item.project = project
                    return Assignment.objects.create(
                        item=item,
                        annotator=user,
                        expires_at=now + timedelta(minutes=project.lease_minutes),
                    )
            checked += [i.pk for i in batch]


def assignment_skip(
    *,
    project: Project,
    user: User,
    item: Item,
    reason: str = "",
    now: datetime | None = None,
) -> Assignment:
    """Give ``item`` back and never offer it to ``user`` again; ``reason`` is kept."""
    now = now or timezone.now()
    if item.project_id != project.pk:
        raise NotFound(f"No item {item.pk} in project '{project.slug}'.")
    reason = (reason or "").strip()
    if len(reason) > SKIP_REASON_MAX:
        raise ValidationError(
            "reason: too long",
            details={"reason": [f"at most {SKIP_REASON_MAX} characters"]},
        )
    annotator_check(project=project, user=user)
    with transaction.atomic():
        annotator_lock(project=project, user=user)
        if Judgement.objects.filter(item=item, annotator=user, is_current=True).exists():
            raise Conflict(
                "You have already judged this item; change your judgement instead of skipping.",
                code="already_judged",
            )
        lease = (
            Assignment.objects.filter(item=item, annotator=user, status=Assignment.Status.ACTIVE)
            .select_for_update()
            .first()
        )
        if lease is None:
            return Assignment.objects.create(
                item=item,
                annotator=user,
                status=Assignment.Status.SKIPPED,
                expires_at=now,
                skip_reason=reason,
            )
        lease.status = Assignment.Status.SKIPPED
        lease.skip_reason = reason
        lease.save(update_fields=["status", "skip_reason", "updated_at"])
        return lease
