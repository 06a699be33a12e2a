"""What the gpu worker does with a job id: claim the row, run the kind's runner with a
reporter that streams progress into the database, and record the outcome.

Claiming is one conditional UPDATE (``queued`` -> ``running``): a second delivery of a
running or finished job claims nothing and does nothing. The reporter and the end of an
attempt are in ``attempt``; the runners, one per kind, in ``runners``.
"""

import logging

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db.models import F
from django.utils import timezone

from training import engine
from training.models import TrainingJob
from training.services.attempt import JobReporter, Superseded, attempt_fail
from training.services.runners import RUNNERS

logger = logging.getLogger(__name__)


def job_claim(*, job_id: int) -> TrainingJob | None:
    """Move the job from queued to running as a new attempt; None if it is not queued."""
    now = timezone.now()
    claimed = TrainingJob.objects.filter(pk=job_id, status=TrainingJob.Status.QUEUED).update(
        status=TrainingJob.Status.RUNNING,
        attempts=F("attempts") + 1,
        heartbeat_at=now,
        error="",
    )
    if not claimed:
        return None
    job = TrainingJob.objects.select_related(
        "project", "snapshot", "parent", "reward_model", "baseline"
    ).get(pk=job_id)
    if job.started_at is None:
        job.started_at = now
        job.save(update_fields=["started_at"])
    return job


def job_execute(*, job_id: int) -> str:
    """Run one delivery of job ``job_id``; returns what happened (for the worker's log)."""
    job = job_claim(job_id=job_id)
    if job is None:
        status = TrainingJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
        logger.info("job %s not claimed (it is %s): nothing to do", job_id, status or "gone")
        return f"skipped ({status or 'gone'})"
    reporter = JobReporter(job)
    resumed = " (resuming from its last checkpoint)" if job.attempts > 1 else ""
    reporter.on_log(f"attempt {job.attempts} of {job.max_attempts} started{resumed}")
    reporter.flush()
    try:
        with reporter.heartbeat():
            outcome = RUNNERS[job.kind](job, reporter)
    except Superseded:
        return "superseded"
    except engine.EngineError as exc:
        return attempt_fail(job, reporter, str(exc))
    except SoftTimeLimitExceeded:
        soft = settings.TRAINING_TIME_LIMITS[job.kind]
        return attempt_fail(
            job, reporter, f"Stopped at the time limit of {soft} s for {job.kind} jobs."
        )
    except Exception as exc:
        logger.exception("job %s crashed", job.pk)
        return attempt_fail(job, reporter, f"Internal error: {type(exc).__name__}: {exc}")
    return outcome
