"""One attempt of a job on the gpu worker: the reporter the engine streams into, and the
attempt's end.

- Each claim is an attempt; every later write is conditioned on (status running, same
  attempt), so a worker that lost its job to the reaper cannot overwrite the new attempt.
- Progress, metrics and log lines are buffered and written at most every
  TRAINING_FLUSH_SECONDS; a heartbeat thread touches the row every
  TRAINING_HEARTBEAT_SECONDS while the engine runs (model loading and evaluation included).
- The engine's stop check reads the cancel flag at most every TRAINING_CANCEL_POLL_SECONDS.
- The end goes through ``job_finish``, the one writer of a job's final status.
"""

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from training import engine
from training.artifacts import artifact_absolute
from training.models import JobMetric, ModelVersion, TrainingJob
from training.services.finish import job_finish

logger = logging.getLogger(__name__)


class Superseded(Exception):
    """This attempt no longer owns the job (the reaper re-queued it elsewhere)."""


class JobReporter:
    """The engine's hooks for one attempt of one job."""

    def __init__(self, job: TrainingJob) -> None:
        self.job_id = job.pk
        self.attempt = job.attempts
        self.step = job.step
        self.total = job.total_steps
        self.metrics: list[JobMetric] = []
        self.seen: set[tuple[int, str]] = set()
        self.log: deque[str] = deque(job.log_tail.splitlines(), maxlen=settings.TRAINING_LOG_LINES)
        self.dirty = False
        self.first_step: int | None = None
        self.replaced = False
        self.last_flush = 0.0
        self.last_poll = 0.0
        self.stop = False
        self.engine_seconds = 0.0
        self._beating = threading.Event()

    # -- ownership ----------------------------------------------------------------------
    def owned(self) -> Any:
        return TrainingJob.objects.filter(
            pk=self.job_id, status=TrainingJob.Status.RUNNING, attempts=self.attempt
        )

    # -- hooks --------------------------------------------------------------------------
    def on_progress(self, progress: "engine.Progress") -> None:
        self.step, self.total = int(progress.step), int(progress.total_steps)
        if self.first_step is None:
            self.first_step = self.step
        for name, value in progress.metrics.items():
            value = float(value)
            # The engine's closing report repeats the last step with summary values: the
            # curve keeps the first value of a (step, name); the summary goes to the result.
            if math.isfinite(value) and (self.step, name) not in self.seen:
                self.seen.add((self.step, name))
                self.metrics.append(
                    JobMetric(job_id=self.job_id, step=self.step, name=name, value=value)
                )
        self.dirty = True
        if time.monotonic() - self.last_flush >= settings.TRAINING_FLUSH_SECONDS:
            self.flush()

    def on_log(self, line: str) -> None:
        stamp = timezone.now().strftime("%H:%M:%S")
        for part in str(line).splitlines() or [""]:
            self.log.append(f"[{stamp}] {part}")
        self.dirty = True

    def should_stop(self) -> bool:
        if self.stop:
            return True
        if time.monotonic() - self.last_poll < settings.TRAINING_CANCEL_POLL_SECONDS:
            return False
        self.last_poll = time.monotonic()
        row = (
            TrainingJob.objects.filter(pk=self.job_id)
            .values("status", "attempts", "cancel_requested")
            .first()
        )
        if row is None or row["status"] != "running" or row["attempts"] != self.attempt:
            self.on_log("this attempt lost the job (re-queued elsewhere); stopping")
            self.stop = True
        elif row["cancel_requested"]:
            self.on_log("cancel requested; stopping at the next step")
            self.stop = True
        return self.stop

    def hooks(self) -> "engine.Hooks":
        return engine.Hooks(
            on_progress=self.on_progress, should_stop=self.should_stop, on_log=self.on_log
        )

    # -- writes -------------------------------------------------------------------------
    def flush(self) -> None:
        """Write buffered metrics, progress, log lines and a heartbeat in one transaction."""
        self.last_flush = time.monotonic()
        if not self.dirty:
            return
        with transaction.atomic():
            updated = self.owned().update(
                step=self.step,
                total_steps=self.total,
                heartbeat_at=timezone.now(),
                log_tail="\n".join(self.log),
            )
            if not updated:
                self.metrics.clear()
                return
            if self.first_step is not None and self.attempt > 1 and not self.replaced:
                # A resumed attempt redoes the steps after its checkpoint: replace them.
                JobMetric.objects.filter(job_id=self.job_id, step__gte=self.first_step).delete()
                self.replaced = True
            JobMetric.objects.bulk_create(self.metrics, batch_size=1000)
        self.metrics.clear()
        self.dirty = False

    @contextmanager
    def heartbeat(self) -> Iterator[None]:
        """Touch the job's heartbeat from a thread while the body runs."""
        stop = threading.Event()

        def beat() -> None:
            try:
                while not stop.wait(settings.TRAINING_HEARTBEAT_SECONDS):
                    self.owned().update(heartbeat_at=timezone.now())
            finally:
                connection.close()

        thread = threading.Thread(target=beat, name=f"heartbeat-job-{self.job_id}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=30)

    @contextmanager
    def engine_time(self) -> Iterator[None]:
        start = time.monotonic()
        try:
            yield
        finally:
            self.engine_seconds += time.monotonic() - start


def attempt_finish(
    job: TrainingJob,
    reporter: JobReporter,
    status: str,
    *,
    error: str = "",
    result: dict[str, Any] | None = None,
    before: Callable[[TrainingJob], None] | None = None,
) -> bool:
    """Record the end of this attempt if it still owns the job; False if it does not."""
    reporter.flush()
    ended = job_finish(
        job_id=job.pk,
        status=status,
        attempt=reporter.attempt,
        error=error,
        result=result,
        heartbeat=True,
        before=before,
        fields={
            "step": reporter.step,
            "total_steps": reporter.total,
            "log_tail": "\n".join(reporter.log),
            "engine_seconds": F("engine_seconds") + reporter.engine_seconds,
        },
    )
    if ended is None:
        logger.warning("job %s attempt %s no longer owns the job", job.pk, reporter.attempt)
        return False
    return True


def attempt_fail(job: TrainingJob, reporter: JobReporter, message: str) -> str:
    reporter.on_log(f"failed: {message}")
    attempt_finish(job, reporter, TrainingJob.Status.FAILED, error=message)
    logger.warning("job %s failed: %s", job.pk, message)
    return "failed"


def attempt_cancelled(job: TrainingJob, reporter: JobReporter) -> str:
    current = TrainingJob.objects.filter(pk=job.pk).values("attempts", "status").first()
    if current is None or current["attempts"] != reporter.attempt:
        raise Superseded()
    reporter.on_log("cancelled")
    attempt_finish(job, reporter, TrainingJob.Status.CANCELLED)
    return "cancelled"


def model_path(version: ModelVersion | None, fallback: str) -> str:
    return str(artifact_absolute(version.artifact_path)) if version is not None else fallback
