"""What the gpu worker does with a job id: claim the row, run the engine with hooks that
stream progress into the database, and record the outcome.

- Claiming is one conditional UPDATE (``queued`` -> ``running``): a second delivery of a
  running or finished job claims nothing and does nothing.
- Each claim is an attempt; every later write is conditioned on (status running, same
  attempt), so a worker that lost its job to the reaper cannot overwrite the new attempt.
- Progress, metrics and log lines are buffered and written at most every
  TRAINING_FLUSH_SECONDS; a heartbeat thread touches the row every
  TRAINING_HEARTBEAT_SECONDS while the engine runs (model loading and evaluation included).
- The engine's stop check reads the cancel flag at most every TRAINING_CANCEL_POLL_SECONDS.
"""

import json
import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from feedback.models import Item, Response
from feedback.services.rendering import responses_render
from feedback.services.rounds import candidates_arrived
from training import engine
from training.artifacts import artifact_absolute, job_out_dir
from training.models import TRAIN_KINDS, JobMetric, ModelVersion, TrainingJob
from training.selectors import items_needing_responses
from training.services.uncertainty import uncertainty_score_later

logger = logging.getLogger(__name__)

GENERATE_CHUNK = 32


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
        return _job_fail(job, reporter, str(exc))
    except SoftTimeLimitExceeded:
        soft = settings.TRAINING_TIME_LIMITS[job.kind]
        return _job_fail(
            job, reporter, f"Stopped at the time limit of {soft} s for {job.kind} jobs."
        )
    except Exception as exc:
        logger.exception("job %s crashed", job.pk)
        return _job_fail(job, reporter, f"Internal error: {type(exc).__name__}: {exc}")
    return outcome


def _finish(
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
    with transaction.atomic():
        locked = (
            TrainingJob.objects.select_for_update()
            .filter(pk=job.pk, status=TrainingJob.Status.RUNNING, attempts=reporter.attempt)
            .first()
        )
        if locked is None:
            logger.warning("job %s attempt %s no longer owns the job", job.pk, reporter.attempt)
            return False
        if before is not None:
            before(locked)
        locked.status = status
        locked.error = error
        locked.finished_at = timezone.now()
        locked.step = reporter.step
        locked.total_steps = reporter.total
        locked.heartbeat_at = locked.finished_at
        locked.log_tail = "\n".join(reporter.log)
        locked.engine_seconds = F("engine_seconds") + reporter.engine_seconds
        fields = ["status", "error", "finished_at", "step", "total_steps", "heartbeat_at"]
        fields += ["log_tail", "engine_seconds"]
        if result is not None:
            locked.result = result
            fields.append("result")
        locked.save(update_fields=fields)
        locked.refresh_from_db(fields=["engine_seconds"])
        from training.services.retrain import retrain_advance

        retrain_advance(job=locked)
    return True


def _job_fail(job: TrainingJob, reporter: JobReporter, message: str) -> str:
    reporter.on_log(f"failed: {message}")
    _finish(job, reporter, TrainingJob.Status.FAILED, error=message)
    logger.warning("job %s failed: %s", job.pk, message)
    return "failed"


def _cancelled(job: TrainingJob, reporter: JobReporter) -> str:
    current = TrainingJob.objects.filter(pk=job.pk).values("attempts", "status").first()
    if current is None or current["attempts"] != reporter.attempt:
        raise Superseded()
    reporter.on_log("cancelled")
    _finish(job, reporter, TrainingJob.Status.CANCELLED)
    return "cancelled"


def _model_path(version: ModelVersion | None, fallback: str) -> str:
    return str(artifact_absolute(version.artifact_path)) if version is not None else fallback


# -- runners: one per kind ---------------------------------------------------------------


def _run_training(job: TrainingJob, reporter: JobReporter) -> str:
    from training.services.registry import model_version_create
    from training.services.snapshots import snapshot_file

    assert job.snapshot is not None
    out = job_out_dir(job.pk)
    out.mkdir(parents=True, exist_ok=True)
    data = snapshot_file(job.snapshot)
    if job.holdout_prompts:
        data = _without_prompts(data, job.holdout_prompts, out / "train.jsonl")
        reporter.on_log(f"held out {len(job.holdout_prompts)} prompts for evaluation")
    with reporter.engine_time():
        result = engine.train(
            job.kind,
            data=data,
            base=_model_path(job.parent, job.base_model),
            out=out,
            config=dict(job.config),
            reward_model=_model_path(job.reward_model, "") or None,
            hooks=reporter.hooks(),
        )
    reporter.step = max(reporter.step, int(result.steps))
    if result.cancelled:
        return _cancelled(job, reporter)
    metrics = {k: float(v) for k, v in result.metrics.items() if math.isfinite(float(v))}

    def register(locked: TrainingJob) -> None:
        model_version_create(job=locked, model_dir=Path(result.model_dir), metrics=metrics)

    reporter.on_log(f"finished after {result.steps} steps")
    if not _finish(job, reporter, TrainingJob.Status.SUCCEEDED, result=metrics, before=register):
        raise Superseded()
    return "succeeded"


def _canonical(prompt: Any) -> str:
    return json.dumps(prompt, sort_keys=True, ensure_ascii=False)


def _without_prompts(source: Path, prompts: list[Any], target: Path) -> Path:
    """Copy the JSONL file ``source`` to ``target`` without the rows whose prompt is held out."""
    held = {_canonical(p) for p in prompts}
    tmp = target.with_suffix(".tmp")
    with source.open(encoding="utf-8") as src, tmp.open("w", encoding="utf-8") as dst:
        for line in src:
            if line.strip() and _canonical(json.loads(line).get("prompt")) not in held:
                dst.write(line)
    tmp.replace(target)
    return target


def _run_generate(job: TrainingJob, reporter: JobReporter) -> str:
    """Fill every item up to project.responses_per_item with the policy's candidates.
    Each chunk of items commits on its own, so a resumed job skips what is done."""
    project = job.project
    model = _model_path(job.parent, job.base_model)
    label = job.parent.label if job.parent is not None else job.base_model
    todo = list(items_needing_responses(project=project).values_list("id", flat=True))
    reporter.total = len(todo)
    config = dict(job.config)
    for start in range(0, len(todo), GENERATE_CHUNK):
        if reporter.should_stop():
            return _cancelled(job, reporter)
        chunk = list(
            Item.objects.filter(pk__in=todo[start : start + GENERATE_CHUNK])
            .annotate(n=Count("responses"))
            .order_by("id")
        )
        missing = {item.pk: project.responses_per_item - item.n for item in chunk}
        chunk = [item for item in chunk if missing[item.pk] > 0]
        if chunk:
            k = max(missing.values())
            gen_config = engine.GenerateConfig(**{**config, "num_return_sequences": k})
            with reporter.engine_time():
                texts = engine.generate(model, [item.messages for item in chunk], gen_config)
            _responses_record(job, reporter, chunk, texts, label)
        created = Response.objects.filter(metadata__job=job.pk).count()
        reporter.on_progress(
            engine.Progress(
                step=min(start + GENERATE_CHUNK, len(todo)),
                total_steps=len(todo),
                metrics={"responses_created": float(created)},
            )
        )
    created = Response.objects.filter(metadata__job=job.pk).count()
    reporter.on_log(f"generated {created} responses for {len(todo)} items")
    if not _finish(
        job, reporter, TrainingJob.Status.SUCCEEDED, result={"responses_created": created}
    ):
        raise Superseded()
    return "succeeded"


def _responses_record(
    job: TrainingJob,
    reporter: JobReporter,
    items: Sequence[Item],
    texts: list[list[str]],
    label: str,
) -> int:
    """Add generated responses to ``items`` (up to what each still needs), atomically."""
    with transaction.atomic():
        if not reporter.owned().select_for_update().exists():
            raise Superseded()
        ids = [item.pk for item in items]
        list(Item.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
        have_by_item = dict(
            Response.objects.filter(item_id__in=ids)
            .order_by()
            .values_list("item_id")
            .annotate(n=Count("pk"))
            .values_list("item_id", "n")
        )
        rows = []
        for item, candidates in zip(items, texts, strict=True):
            have = have_by_item.get(item.pk, 0)
            last = (
                Response.objects.filter(item_id=item.pk)
                .order_by("-position")
                .values_list("position", flat=True)
                .first()
            )
            position = (last if last is not None else -1) + 1
            for text in candidates[: max(0, job.project.responses_per_item - have)]:
                rows.append(
                    Response(
                        item_id=item.pk,
                        position=position,
                        content=text.strip(),
                        source=Response.Source.MODEL,
                        model_name=label,
                        metadata={
                            "model_version": job.parent_id,
                            "job": job.pk,
                        },
                    )
                )
                position += 1
        Response.objects.bulk_create(rows)
        # New candidates of an item already judged or held open a new round on it.
        new_responses: dict[int, list[int]] = {}
        for row in rows:
            new_responses.setdefault(row.item_id, []).append(row.pk)
        candidates_arrived(project=job.project, new_responses=new_responses)
        # Their rounds changed: the uncertainty policy's margins are scored again.
        uncertainty_score_later(project=job.project, item_ids=sorted(new_responses))
    # Rendered here, in the worker, so that annotators' pages need not render them.
    responses_render(response_ids=[row.pk for row in rows])
    return len(rows)


def _run_evaluate(job: TrainingJob, reporter: JobReporter) -> str:
    """Win rate of the candidate policy against the baseline, judged by the reward model."""
    prompts = list(job.holdout_prompts)
    if not prompts:
        prompts = [
            item.messages for item in Item.objects.filter(project=job.project).order_by("-id")[:32]
        ]
    if not prompts:
        return _job_fail(job, reporter, "There are no prompts to evaluate on.")
    reporter.total = len(prompts)
    with reporter.engine_time():
        rate = engine.evaluate_win_rate(
            policy=_model_path(job.parent, job.base_model),
            baseline=_model_path(job.baseline, settings.BASE_MODEL),
            reward_model=_model_path(job.reward_model, ""),
            prompts=prompts,
            config=engine.GenerateConfig(**job.config),
        )
    result = {k: float(v) for k, v in asdict(rate).items()}
    reporter.step = len(prompts)
    reporter.on_log(
        f"win rate {rate.win_rate:.3f} (95% CI {rate.ci_low:.3f}-{rate.ci_high:.3f}) "
        f"over {rate.n} prompts: {rate.wins} wins, {rate.losses} losses, {rate.ties} ties"
    )
    if not _finish(job, reporter, TrainingJob.Status.SUCCEEDED, result=result):
        raise Superseded()
    return "succeeded"


RUNNERS: dict[str, Callable[[TrainingJob, JobReporter], str]] = {
    **dict.fromkeys(TRAIN_KINDS, _run_training),
    "generate": _run_generate,
    "evaluate": _run_evaluate,
}
