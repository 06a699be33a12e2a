"""One module per training method, each like TRL's own trainers: load, build the trainer, fit, save.

Each exposes `<method>_train(run) -> MethodResult`; `training.engine.run.train` picks one by name.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class MethodResult:
    steps: int
    cancelled: bool
    metrics: dict[str, float]
