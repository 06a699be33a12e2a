"""The runners, one per job kind: train with the engine, generate candidates, evaluate.

Each takes the claimed job and its attempt's reporter, and ends the attempt
(``attempt_finish``) or raises ``Superseded`` when it no longer owns the job.
"""

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db.models import Count

from feedback.models import Item, Response
from feedback.services.responses import responses_generated_add
from training import engine
from training.artifacts import job_out_dir
from training.models import TRAIN_KINDS, TrainingJob
from training.selectors import items_needing_responses
from training.services.attempt import (
    JobReporter,
    Superseded,
    attempt_cancelled,
    attempt_fail,
    attempt_finish,
    model_path,
)
from training.services.registry import model_version_create
from training.services.snapshots import snapshot_file
from training.services.uncertainty import uncertainty_score_later

GENERATE_CHUNK = 32


def _run_training(job: TrainingJob, reporter: JobReporter) -> str:
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
            base=model_path(job.parent, job.base_model),
            out=out,
            config=dict(job.config),
            reward_model=model_path(job.reward_model, "") or None,
            hooks=reporter.hooks(),
        )
    reporter.step = max(reporter.step, int(result.steps))
    if result.cancelled:
        return attempt_cancelled(job, reporter)
    metrics = {k: float(v) for k, v in result.metrics.items() if math.isfinite(float(v))}

    def register(locked: TrainingJob) -> None:
        model_version_create(job=locked, model_dir=Path(result.model_dir), metrics=metrics)

    if not attempt_finish(
        job, reporter, TrainingJob.Status.SUCCEEDED, result=metrics, before=register
    ):
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
    model = model_path(job.parent, job.base_model)
    label = job.parent.label if job.parent is not None else job.base_model
    todo = list(items_needing_responses(project=project).values_list("id", flat=True))
    reporter.total = len(todo)
    config = dict(job.config)
    for start in range(0, len(todo), GENERATE_CHUNK):
        if reporter.should_stop():
            return attempt_cancelled(job, reporter)
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
    if not todo:
        reporter.on_log(
            f"every item already has the project's {project.responses_per_item} candidates: "
            "raise 'responses per item' in the project's settings to ask for more"
        )
    if not attempt_finish(
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
    """Add generated responses to ``items`` if this attempt still owns the job."""

    def still_owned() -> None:
        if not reporter.owned().select_for_update().exists():
            raise Superseded()

    new_responses = responses_generated_add(
        project=job.project,
        items=items,
        texts=texts,
        model_name=label,
        metadata={"model_version": job.parent_id, "job": job.pk},
        guard=still_owned,
    )
    # Their rounds changed: the uncertainty policy's margins are scored again.
    uncertainty_score_later(project=job.project, item_ids=sorted(new_responses))
    return sum(len(ids) for ids in new_responses.values())


def _run_evaluate(job: TrainingJob, reporter: JobReporter) -> str:
    """Win rate of the candidate policy against the baseline, judged by the reward model."""
    prompts = list(job.holdout_prompts)
    if not prompts:
        prompts = [
            item.messages for item in Item.objects.filter(project=job.project).order_by("-id")[:32]
        ]
    if not prompts:
        return attempt_fail(job, reporter, "There are no prompts to evaluate on.")
    reporter.total = len(prompts)
    with reporter.engine_time():
        rate = engine.evaluate_win_rate(
            policy=model_path(job.parent, job.base_model),
            baseline=model_path(job.baseline, settings.BASE_MODEL),
            reward_model=model_path(job.reward_model, ""),
            prompts=prompts,
            config=engine.GenerateConfig(**job.config),
        )
    result = {k: float(v) for k, v in asdict(rate).items()}
    reporter.step = len(prompts)
    reporter.on_log(
        f"win rate {rate.win_rate:.3f} (95% CI {rate.ci_low:.3f}-{rate.ci_high:.3f}) "
        f"over {rate.n} prompts: {rate.wins} wins, {rate.losses} losses, {rate.ties} ties"
    )
    if not attempt_finish(job, reporter, TrainingJob.Status.SUCCEEDED, result=result):
        raise Superseded()
    return "succeeded"


RUNNERS: dict[str, Callable[[TrainingJob, JobReporter], str]] = {
    **dict.fromkeys(TRAIN_KINDS, _run_training),
    "generate": _run_generate,
    "evaluate": _run_evaluate,
}
