"""`train`: validate everything, then run one method into an output directory."""

from __future__ import annotations

from pathlib import Path

from training.engine.config import TrainConfig
from training.engine.results import Hooks, TrainResult


def train(
    method: str,
    *,
    data: str | Path,
    base: str,
    out: str | Path,
    config: TrainConfig | dict[str, object] | None = None,
    reward_model: str | None = None,
    hooks: Hooks | None = None,
) -> TrainResult:
    """Train `method` on the JSONL file `data` from `base` (hub id or local dir) into `out`."""
    raise NotImplementedError("train: being implemented (issue 5)")
