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
- once an item is locked, the lease is taken by an ``INSERT ... SELECT`` that counts
  the item's live leases again: a fresh statement (a read-committed snapshot taken
  after the lock), because the candidate query's own snapshot may predate a lease
  committed a moment earlier;
- only items with at least two responses are handed out (a prompt still waiting for
  generated candidates has nothing to rank);
- ``Item.judgement_count`` (current human judgements) is changed only by
  ``feedback.services.judgements`` while the item row is locked, in the same
  transaction as the judgement, and lets the candidate query walk an index in
  "closest to completion, then oldest" order instead of counting a whole project.
Leases are not counted in a column: they expire by the clock, so they are counted
(per locked item, through an index) where they matter. The statements of this path
are written in SQL (``core.sql``): it runs for every item an annotator sees.

Gold items (``feedback.services.gold``) are outside all of this: the candidate query never
offers one. Once an ordinary candidate is found (so gold only ever comes mixed into real
work, never as the tail of an exhausted queue), a draw at the project's ``gold_rate`` may
serve a gold item instead: one statement, no row lock (a gold item has no overlap to
protect; the annotator's advisory lock is what keeps it to once per annotator). An
annotator below the gold threshold of a project that stops them gets no new lease.

Rounds (``feedback.services.rounds``): ``judgement_count`` counts the current round's
judgements, and only the current round's leases, judgements and skips are counted or
excluded here; a lease of an earlier round stays live for its holder and counts for
nobody else.

The project's ``order`` is its selection policy: ``closest`` (FIFO, the default: closest
to completion, then oldest), ``random`` (from a random id, round the project),
``disagreement`` (``Item.disagreement`` highest first) and ``uncertainty``
(``Item.rm_margin``, the promoted reward model's smallest margin, lowest first). The
scores are columns written off this path (the judgement's transaction, a scoring job), so
each policy is the same one statement over its own index, unscored items last.

On SQLite the database takes its write lock at BEGIN (``transaction_mode=IMMEDIATE``),
so the same code is simply serial there; ``skip_locked`` is ignored.
"""

import random
from datetime import datetime, timedelta

from django.contrib.auth.models import User
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from core import sql
from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from feedback.models import Assignment, Item, Judgement, Project, Response
from feedback.selectors import project_may_annotate
from feedback.services.gold import gold_draw, gold_lease_take, gold_stop_check

# How many candidates one query locks at a time; more only when some turn out taken.
CANDIDATE_BATCH = 3
SKIP_REASON_MAX = 2000


def lease_live_q(*, now: datetime, prefix: str = "") -> Q:
    """The condition for a live lease (``prefix`` reaches an Assignment through a relation)."""
    return Q(**{f"{prefix}status": Assignment.Status.ACTIVE, f"{prefix}expires_at__gt": now})


def annotator_lock(*, project: Project, user: User, durable: bool = True) -> None:
    """Serialise one annotator's assignment work in one project until the transaction ends.

    ``durable=False`` also lets this transaction's commit return before its WAL reaches
    the disk (Postgres ``synchronous_commit``, for this transaction only). Only for a
    transaction that writes nothing but a lease: a lease lost to a crash in that moment
    is a lease that ran out early, which the rules already handle."""
    if connection.vendor == "postgresql":
        lock = "SELECT pg_advisory_xact_lock(%s, %s)"
        if not durable:
            lock += ", set_config('synchronous_commit', 'off', true)"
        with connection.cursor() as cursor:
            cursor.execute(lock, [project.pk % 2**31, int(user.pk) % 2**31])


def annotator_check(*, project: Project, user: User) -> None:
    if not project_may_annotate(user=user, project=project):
        raise PermissionDenied(f"You are not an annotator of project '{project.slug}'.")


# The next-item query, written out: it runs on every request for an item, and the ORM
# took longer to compile it than Postgres takes to run it. Table names come from the
# models; every value is a parameter.
_CANDIDATES_SQL = """
SELECT {columns} FROM {item} i
WHERE i.project_id = %(project)s AND i.judgement_count < %(overlap)s AND NOT i.is_gold {range}
  AND NOT EXISTS (SELECT 1 FROM {judgement} j
                  WHERE j.item_id = i.id AND j.round = i.round AND j.annotator_id = %(user)s)
  AND NOT EXISTS (SELECT 1 FROM {assignment} a
                  WHERE a.item_id = i.id AND a.annotator_id = %(user)s AND a.round = i.round
                    AND a.status IN (%(skipped)s, %(submitted)s))
  AND i.judgement_count + (SELECT count(*) FROM {assignment} a
                           WHERE a.item_id = i.id AND a.status = %(active)s
                             AND a.round = i.round AND a.expires_at > %(now)s) < %(overlap)s
  AND (SELECT count(*) FROM (SELECT 1 FROM {response} r WHERE r.item_id = i.id LIMIT 2) two) = 2
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
        statement = _CANDIDATES_SQL.format(
            columns=sql.columns(Item, "i"),
            item=sql.table(Item),
            judgement=sql.table(Judgement),
            assignment=sql.table(Assignment),
            response=sql.table(Response),
            range=range_sql + excluded,
            order=order,
            lock=lock,
        )
        return sql.fetch(Item, statement, {**params, **extra})

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
    if project.order == Project.Order.DISAGREEMENT:
        return run("", "i.disagreement DESC, i.judgement_count DESC, i.id")
    if project.order == Project.Order.UNCERTAINTY:
        return run("", "i.rm_margin ASC NULLS LAST, i.judgement_count DESC, i.id")
    return run("", "i.judgement_count DESC, i.id")


# The annotator's active leases in a project (live or run out), soonest first.
_HELD_SQL = """
SELECT a.id, a.expires_at FROM {assignment} a JOIN {item} i ON i.id = a.item_id
WHERE a.annotator_id = %(user)s AND a.status = %(active)s AND i.project_id = %(project)s
ORDER BY a.expires_at, a.id
"""

# Take a lease on one locked candidate if it is still open: a statement of its own, so
# its snapshot is newer than any lease committed before the candidate's row lock was
# taken (the candidate query's own snapshot may be older than that).
_LEASE_SQL = """
INSERT INTO {assignment} (created_at, updated_at, item_id, annotator_id, status, round,
                          expires_at, skip_reason)
SELECT %(created)s, %(created)s, i.id, %(user)s, %(status)s, i.round, %(expires)s, ''
FROM {item} i
WHERE i.id = %(item)s
  AND i.judgement_count + (SELECT count(*) FROM {assignment} a
                           WHERE a.item_id = i.id AND a.status = %(active)s
                             AND a.round = i.round AND a.expires_at > %(now)s) < %(overlap)s
RETURNING id, round
"""


def _lease_take(*, project: Project, user: User, item: Item, now: datetime) -> Assignment | None:
    """A new lease of the locked ``item`` to ``user``, or None if it is no longer open."""
    created = timezone.now()
    expires = now + timedelta(minutes=project.lease_minutes)
    with connection.cursor() as cursor:
        cursor.execute(
            _LEASE_SQL.format(assignment=sql.table(Assignment), item=sql.table(Item)),
            {
                "created": sql.datetime_param(created),
                "user": user.pk,
                "status": Assignment.Status.ACTIVE,
                "active": Assignment.Status.ACTIVE,
                "expires": sql.datetime_param(expires),
                "item": item.pk,
                "now": sql.datetime_param(now),
                "overlap": project.overlap,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    item.project = project
    lease = Assignment(
        id=row[0],
        item=item,
        annotator=user,
        status=Assignment.Status.ACTIVE,
        round=row[1],
        expires_at=expires,
        created_at=created,
        updated_at=created,
    )
    lease._state.adding = False
    lease._state.db = connection.alias
    return lease


def assignment_next(
    *, project: Project, user: User, now: datetime | None = None
) -> Assignment | None:
    """The annotator's live lease in ``project``: the one they hold, or a new one on the
    next item that needs them; None when nothing is left for them."""
    now = now or timezone.now()
    annotator_check(project=project, user=user)
    # Inside a caller's transaction, the commit is the caller's: leave it durable.
    own_transaction = not connection.in_atomic_block
    with transaction.atomic():
        annotator_lock(project=project, user=user, durable=not own_transaction)
        with connection.cursor() as cursor:
            cursor.execute(
                _HELD_SQL.format(assignment=sql.table(Assignment), item=sql.table(Item)),
                {"user": user.pk, "active": Assignment.Status.ACTIVE, "project": project.pk},
            )
            held = [(pk, sql.datetime_value(expires)) for pk, expires in cursor.fetchall()]
        ran_out = [pk for pk, expires in held if expires <= now]
        if ran_out:
            # Back to the pool (others already ignore them by the clock); marked so that
            # this annotator may be offered the item again under the one-active rule.
            Assignment.objects.filter(pk__in=ran_out).update(
                status=Assignment.Status.EXPIRED, updated_at=timezone.now()
            )
        live = next((pk for pk, expires in held if expires > now), None)
        if live is not None:
            held_lease = Assignment.objects.select_related("item").get(pk=live)
            held_lease.item.project = project
            return held_lease

        gold_stop_check(project=project, user=user)  # no query unless the project stops
        checked: list[int] = []
        serve_gold = gold_draw(project=project)
        while True:
            batch = _lock_next(project=project, user=user, now=now, exclude=checked)
            if not batch:
                return None  # no gold either: gold only ever comes mixed into real work
            if serve_gold:
                serve_gold = False
                gold = gold_lease_take(project=project, user=user, now=now)
                if gold is not None:
                    return gold  # the locked candidates are let go at commit, untouched
            for item in batch:
                lease = _lease_take(project=project, user=user, item=item, now=now)
                if lease is not None:
                    return lease
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
        if Judgement.objects.filter(
            item=item, annotator=user, is_current=True, round=item.round
        ).exists():
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
                round=item.round,
                expires_at=now,
                skip_reason=reason,
            )
        lease.status = Assignment.Status.SKIPPED
        lease.skip_reason = reason
        lease.save(update_fields=["status", "skip_reason", "updated_at"])
        return lease


def assignments_expire(*, now: datetime | None = None) -> int:
    """Mark every active lease that ran out ``expired``; return how many.

    Only bookkeeping: every rule already treats a lease as live by its ``expires_at``, and
    ``assignment_next`` marks an annotator's own run-out leases. This sweep (Celery beat,
    every minute) keeps the status column true for the admin lists and the dashboard."""
    now = now or timezone.now()
    return Assignment.objects.filter(status=Assignment.Status.ACTIVE, expires_at__lte=now).update(
        status=Assignment.Status.EXPIRED, updated_at=timezone.now()
    )
