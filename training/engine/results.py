"""Plain data the engine hands back and the hooks it calls: no torch, no Django."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class Progress:
    """One progress report: the optimizer step reached, out of how many, and the latest metrics."""

    step: int
    total_steps: int
    metrics: dict[str, float]  # e.g. {"loss": .., "learning_rate": .., "accuracy": ..}
    epoch: float | None = None


@dataclass
class Hooks:
    """How a caller follows and steers a run (the Celery layer streams progress through these)."""

    on_progress: Callable[[Progress], None] | None = None  # each logging step, and at the end
    should_stop: Callable[[], bool] | None = None  # polled every step; True -> stop cleanly
    on_log: Callable[[str], None] | None = None  # human-readable log lines


@dataclass
class TrainResult:
    """What a run produced."""

    model_dir: Path  # out/model: safetensors + tokenizer + config + card.json
    metrics: dict[str, float]  # final metrics incl. held-out eval (e.g. eval_accuracy, eval_margin)
    steps: int
    cancelled: bool  # True when should_stop ended it; model_dir then holds no final model
    card: dict[str, Any] = field(default_factory=dict)  # the card.json content (lineage)


@dataclass
class WinRate:
    """Pairwise comparison of a policy against a baseline, judged by a reward model."""

    wins: int
    losses: int
    ties: int
    n: int
    win_rate: float  # (wins + ties / 2) / n
    ci_low: float  # 95% Wilson score interval
    ci_high: float
