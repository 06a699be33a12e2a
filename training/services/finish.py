"""The end of a job. ``job_finish`` is the one writer of a job's final status.

The retrain loop listens to job ends: when the finished job belongs to a retrain run,
``job_finish`` queues the run's advance (``training.tasks.retrain_advance``) once the
transaction that records the end commits. Nothing here calls the loop. A message that is
lost (the broker is down, the worker died in between) costs only time: the project's
periodic retrain check advances a run whose job has ended too, and advancing twice is a
no-op (the run's stage is checked).
"""

import logging
from collections.abc import Callable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone

from training.models import TrainingJob

logger = logging.getLogger(__name__)


def job_finish(
    *,
    job_id: int,
    status: str,
    expect: str = TrainingJob.Status.RUNNING,
    attempt: int | None = None,
    error: str = "",
    result: dict[str, Any] | None = None,
    fields: Mapping[str, Any] | None = None,
    heartbeat: bool = False,
    before: Callable[[TrainingJob], None] | None = None,
) -> TrainingJob | None:
    """End job ``job_id`` with ``status`` if it is still ``expect`` (and, given ``attempt``,
    still that attempt); None if it is not (another attempt or a cancel got there first).

    ``fields`` are written with the status (progress, log); ``heartbeat`` stamps the last
    heartbeat at the end; ``before(locked)`` runs in the same transaction, first (a trained
    model is registered there, so a job never succeeds without its version)."""
    if status not in TrainingJob.FINISHED:
        raise ValueError(f"{status!r} is not a final status")
    with transaction.atomic():
        rows = TrainingJob.objects.select_for_update().filter(pk=job_id, status=expect)
        if attempt is not None:
            rows = rows.filter(attempts=attempt)
        locked = rows.first()
        if locked is None:
            return None
        if before is not None:
            before(locked)
        locked.status = status
        locked.error = error
        locked.finished_at = timezone.now()
        update = ["status", "error", "finished_at"]
        if heartbeat:
            locked.heartbeat_at = locked.finished_at
            update.append("heartbeat_at")
        if result is not None:
            locked.result = result
            update.append("result")
        for name, value in (fields or {}).items():
            setattr(locked, name, value)
            update.append(name)
        locked.save(update_fields=update)
        if fields:
            locked.refresh_from_db(fields=list(fields))  # F() expressions become values
        if locked.retrain_run_id is not None:
            retrain_advance_enqueue(run_id=locked.retrain_run_id)
    return locked


def retrain_advance_enqueue(*, run_id: int) -> None:
    """Queue the advance of retrain run ``run_id`` once the current transaction commits.
    A broker that cannot be reached is logged, not raised: the job's end is recorded and
    the periodic retrain check advances the run."""
    # A service names a task only where it sends one; training.tasks imports the services
    # inside its task functions (HackSoft's Celery guidance), so neither loads the other.
    from training.tasks import retrain_advance

    def send() -> None:
        try:
            retrain_advance.delay(run_id)
        except Exception:  # the broker's errors vary by transport
            logger.warning("could not queue the advance of retrain run %s", run_id, exc_info=True)

    transaction.on_commit(send)
