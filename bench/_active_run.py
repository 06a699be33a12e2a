"""One labelling run of bench/active.py, through the product (import Django only after setup).

A project with the policy's ``order``, the pool imported as items with the import service
(native rows, no preference: the labels come only from the annotator), one annotator who
leases the next item with ``assignment_next`` and submits the real human verdict with
``judgement_submit``, and a reward job every N labels: ``job_create`` (snapshot of the
judgements so far) and ``job_execute`` in this process, as the gpu worker runs it, then
``model_promote`` and, for the ``uncertainty`` policy, ``items_score_uncertainty``, the
scoring job the promotion queues. No worker runs: the queued messages (the import's
rendering, the scoring after a promotion) go to a throw-away filesystem broker, and this
process does the work a worker would do with them.
"""

import io
import json
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.contrib.auth.models import User

from feedback.models import Project, Response
from feedback.services.assignments import assignment_next
from feedback.services.imports import items_import
from feedback.services.judgements import judgement_submit
from feedback.services.projects import membership_set, project_create
from training.artifacts import artifact_absolute
from training.models import ModelVersion, TrainingJob
from training.services.execution import job_execute
from training.services.jobs import job_create
from training.services.registry import model_promote
from training.services.uncertainty import items_score_uncertainty

ORDER = {
    "fifo": Project.Order.CLOSEST,
    "random": Project.Order.RANDOM,
    "uncertainty": Project.Order.UNCERTAINTY,
}


@dataclass
class Timing:
    """Seconds spent per stage of a run (the labelling path is the product's own)."""

    label: float = 0.0
    labels: int = 0
    train: float = 0.0
    evaluate: float = 0.0
    score: float = 0.0
    retrains: list[float] = field(default_factory=list)


class LabellingRun:
    """A project labelled one item at a time under ``policy`` by a simulated annotator."""

    def __init__(self, *, policy: str, seed: int, pool: list[dict[str, Any]]) -> None:
        self.policy, self.seed = policy, seed
        self.rng = random.Random(seed)
        self.project = project_create(
            name=f"Active {policy} {seed}",
            slug=f"active-{policy}-{seed}",
            overlap=1,
            order=ORDER[policy],
        )
        self.annotator = User.objects.create_user(f"annotator-{policy}-{seed}")
        membership_set(project=self.project, user=self.annotator, role="annotator")
        rows, self.chosen = [], {}
        for number, pair in enumerate(pool):
            chosen = _text(pair["chosen"])
            responses = [chosen, _text(pair["rejected"])]
            self.rng.shuffle(responses)  # the position says nothing about the verdict
            external_id = f"pool-{number}"
            self.chosen[external_id] = chosen
            rows.append({"external_id": external_id, "messages": pair["prompt"],
                         "responses": responses})  # fmt: skip
        source = io.BytesIO("".join(json.dumps(r) + "\n" for r in rows).encode())
        items_import(project=self.project, source=source, format="native", source_name="pool")
        self.labelled = 0
        self.timing = Timing()

    def label(self, count: int) -> int:
        """Lease and judge up to ``count`` items, the verdict being the real human one;
        return how many were judged (fewer when the queue runs dry)."""
        random.seed(self.seed * 1_000_003 + self.labelled)  # the random policy's pivot
        started = time.perf_counter()
        done = 0
        while done < count:
            lease = assignment_next(project=self.project, user=self.annotator)
            if lease is None:
                break
            item = lease.item
            responses = list(
                Response.objects.filter(item=item).order_by("id").values_list("pk", "content")
            )
            best = self.chosen[item.external_id]
            winner = next(pk for pk, content in responses if content == best)
            ranking = [[winner], [pk for pk, _ in responses if pk != winner]]
            judgement_submit(user=self.annotator, item=item, ranking=ranking)
            done += 1
        self.labelled += done
        self.timing.label += time.perf_counter() - started
        self.timing.labels += done
        return done

    def retrain(self, *, base: str, config: dict[str, Any], score: bool) -> Path:
        """A reward job on the judgements so far, run here as the worker would, promoted;
        then (``score``) the uncertainty scoring that the promotion queues. Returns the
        promoted model's folder."""
        started = time.perf_counter()
        job = job_create(
            project=self.project,
            kind="reward",
            launched_by="bench-active",
            snapshot_params={},
            base_model=base,
            config={**config, "seed": self.seed},
        )
        job_execute(job_id=job.pk)
        job.refresh_from_db()
        if job.status != TrainingJob.Status.SUCCEEDED:
            raise RuntimeError(f"reward job {job.pk} {job.status}: {job.error}")
        version = model_promote(version=ModelVersion.objects.get(job=job))
        trained = time.perf_counter()
        self.timing.train += trained - started
        self.timing.retrains.append(trained - started)
        if score:
            items_score_uncertainty(project=self.project)
            self.timing.score += time.perf_counter() - trained
        return artifact_absolute(version.artifact_path)


def _text(messages: Any) -> str:
    """The one assistant message of a pair's side, as the item's response text."""
    if isinstance(messages, str):
        return messages
    return "\n".join(m["content"] for m in messages)
