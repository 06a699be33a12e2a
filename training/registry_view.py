"""What the model registry page shows per version: the figures that decide a promotion,
the metrics that mean something, and a small lineage graph.

- A reward model is judged by its held-out accuracy with its 95% interval, as recorded on
  the version (older versions: from its metrics, or the Wilson interval of the held-out
  pairs when they recorded their count); one whose interval includes 0.5 is marked as
  unable to judge a policy (the retrain loop's gate).
- A policy is judged by its win rate against the model it is compared with (the latest
  finished ``evaluate`` job of that policy: win rate, 95% interval, prompts).
- Beside a reward model's accuracy, the human agreement ceiling of its project (alpha, and
  the agreement rate in pairwise projects; ``feedback.quality.agreement``, cached).
"""

import math
import re
from dataclasses import dataclass, field
from typing import Any

from feedback.quality.agreement import AgreementCeiling, project_agreement_ceiling
from training.models import ModelVersion, TrainingJob

# Metrics that say how good a model is; bookkeeping (learning rate, epoch, token counts,
# optimiser eps, runtime) is left out of the registry.
MEANINGFUL = re.compile(r"(loss|accuracy|accuracies|margin|reward|win_rate|kl|score)", re.I)
BOOKKEEPING = re.compile(
    r"(learning_rate|epoch|num_tokens|eps|runtime|samples_per_second|steps_per_second|flos|"
    r"grad_norm|step|_ci_|_low$|_high$|_n$|count)",
    re.I,
)
ACCURACY_KEYS = ("heldout_accuracy", "held_out_accuracy", "eval_accuracy", "accuracy")
NODE_W, NODE_H, GAP = 150, 34, 28


@dataclass
class Figure:
    label: str
    value: float
    low: float | None = None
    high: float | None = None
    n: int | None = None
    note: str = ""

    @property
    def text(self) -> str:
        return f"{self.value:.1%}"

    @property
    def interval(self) -> str:
        if self.low is None or self.high is None:
            return ""
        return f"{self.low:.1%} to {self.high:.1%}"


@dataclass
class Node:
    label: str
    kind: str  # snapshot, reward, policy, base
    x: int
    current: bool = False

    @property
    def text_x(self) -> int:
        return self.x + NODE_W // 2


@dataclass
class Row:
    version: ModelVersion
    figure: Figure | None
    metrics: list[tuple[str, str]]
    nodes: list[Node] = field(default_factory=list)
    ceiling: AgreementCeiling | None = None  # reward models: the humans' agreement

    @property
    def graph_width(self) -> int:
        return max(NODE_W, len(self.nodes) * (NODE_W + GAP) - GAP)

    @property
    def arrows(self) -> list[tuple[int, int]]:
        return [(n.x + NODE_W, n.x + NODE_W + GAP) for n in self.nodes[:-1]]


def _wilson(p: float, n: int) -> tuple[float, float]:
    z = 1.96
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _number(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def accuracy_figure(metrics: dict[str, Any]) -> Figure | None:
    for key in ACCURACY_KEYS:
        value = _number(metrics.get(key))
        if value is None:
            continue
        low = _number(metrics.get(f"{key}_ci_low", metrics.get(f"{key}_low")))
        high = _number(metrics.get(f"{key}_ci_high", metrics.get(f"{key}_high")))
        n_raw = _number(metrics.get(f"{key}_n", metrics.get("eval_pairs", metrics.get("eval_n"))))
        n = int(n_raw) if n_raw else None
        if (low is None or high is None) and n:
            low, high = _wilson(value, n)
        label = "held-out accuracy" if key != "accuracy" else "accuracy (training data)"
        return Figure(label=label, value=value, low=low, high=high, n=n)
    return None


def reward_figure(version: ModelVersion) -> Figure | None:
    """The held-out accuracy recorded on a reward model (what the retrain gate reads), or
    for older versions the figure in its metrics; says when it cannot judge a policy."""
    if version.heldout_accuracy is None:
        return accuracy_figure(version.metrics or {})
    return Figure(
        label="held-out accuracy",
        value=version.heldout_accuracy,
        low=version.heldout_accuracy_low,
        high=version.heldout_accuracy_high,
        n=version.heldout_pairs,
        note="" if version.can_judge else "not better than chance: cannot judge a policy",
    )


def win_rate_figure(evaluation: TrainingJob | None) -> Figure | None:
    if evaluation is None:
        return None
    result = evaluation.result or {}
    value = _number(result.get("win_rate"))
    if value is None:
        return None
    n = _number(result.get("n"))
    against = evaluation.baseline.label if evaluation.baseline else "the base model"
    return Figure(
        label=f"win rate against {against}",
        value=value,
        low=_number(result.get("ci_low")),
        high=_number(result.get("ci_high")),
        n=int(n) if n else None,
    )


def _metric_text(value: Any) -> str:
    number = _number(value)
    if number is None:
        return str(value)
    size = abs(number)
    if size != 0 and (size < 1e-3 or size >= 1e6):
        return f"{number:.2e}"
    return f"{number:.4g}"


def shown_metrics(metrics: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (name, _metric_text(value))
        for name, value in sorted(metrics.items())
        if MEANINGFUL.search(name) and not BOOKKEEPING.search(name)
    ][:6]


def lineage_nodes(version: ModelVersion, by_id: dict[int, ModelVersion]) -> list[Node]:
    """snapshot -> reward model (the judge a policy was trained against) -> this version
    -> its parent -> ... -> the base model, left to right, at most six boxes."""
    labels: list[tuple[str, str, bool]] = []
    if version.snapshot_id:
        labels.append((f"snapshot #{version.snapshot_id}", "snapshot", False))
    job = version.job
    if job is not None and job.reward_model_id:
        judge = by_id.get(job.reward_model_id)
        labels.append((judge.label if judge else f"reward #{job.reward_model_id}", "reward", False))
    labels.append((version.label, version.kind, True))
    current, seen = version, {version.pk}
    while current.parent_id and current.parent_id not in seen and len(labels) < 5:
        parent = by_id.get(current.parent_id)
        if parent is None:
            labels.append((f"version #{current.parent_id}", "policy", False))
            break
        labels.append((parent.label, parent.kind, False))
        seen.add(parent.pk)
        current = parent
    root = current.base_model if current.parent_id is None else ""
    if root:
        short = root.rstrip("/").split("/")[-1]
        labels.append((short[:22], "base", False))
    return [
        Node(label=label, kind=kind, x=index * (NODE_W + GAP), current=is_current)
        for index, (label, kind, is_current) in enumerate(labels)
    ]


def registry_rows(versions: list[ModelVersion]) -> list[Row]:
    by_id = {v.pk: v for v in versions}
    missing = {v.parent_id for v in versions if v.parent_id and v.parent_id not in by_id}
    if missing:
        extra = ModelVersion.objects.filter(pk__in=missing).select_related("project")
        by_id.update({v.pk: v for v in extra})
    policies = [v.pk for v in versions if v.kind == ModelVersion.Kind.POLICY]
    latest_eval: dict[int, TrainingJob] = {}
    evaluations = (
        TrainingJob.objects.filter(
            kind="evaluate", status=TrainingJob.Status.SUCCEEDED, parent_id__in=policies
        )
        .select_related("baseline__project")
        .order_by("parent_id", "-finished_at")
    )
    for evaluation in evaluations:
        assert evaluation.parent_id is not None
        latest_eval.setdefault(evaluation.parent_id, evaluation)
    ceilings: dict[int, AgreementCeiling] = {}
    for version in versions:
        if version.kind == ModelVersion.Kind.REWARD and version.project_id not in ceilings:
            ceilings[version.project_id] = project_agreement_ceiling(project=version.project)
    rows = []
    for version in versions:
        metrics = version.metrics or {}
        figure = (
            reward_figure(version)
            if version.kind == ModelVersion.Kind.REWARD
            else win_rate_figure(latest_eval.get(version.pk))
        )
        rows.append(
            Row(
                version=version,
                figure=figure,
                metrics=shown_metrics(metrics),
                nodes=lineage_nodes(version, by_id),
                ceiling=ceilings.get(version.project_id),
            )
        )
    return rows
