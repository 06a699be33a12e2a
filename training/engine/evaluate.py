"""Evaluation: reward-model accuracy, win rate judged by a reward model, BLEU and ROUGE."""

from __future__ import annotations

from pathlib import Path

from training.engine.config import GenerateConfig
from training.engine.results import WinRate


def evaluate_reward_accuracy(*, reward_model: str | Path, data: str | Path) -> dict[str, float]:
    """{"accuracy", "mean_margin", "n"} on preference rows."""
    raise NotImplementedError("evaluate_reward_accuracy: being implemented (issue 5)")


def evaluate_win_rate(
    *,
    policy: str | Path,
    baseline: str | Path,
    reward_model: str | Path,
    prompts: list[list[dict[str, str]]],
    config: GenerateConfig | None = None,
) -> WinRate:
    """Win rate of `policy` against `baseline` on `prompts`, judged by `reward_model`, 95% CI."""
    raise NotImplementedError("evaluate_win_rate: being implemented (issue 5)")


def evaluate_text_metrics(*, predictions: list[str], references: list[str]) -> dict[str, float]:
    """{"bleu", "rouge1", "rouge2", "rougeL"} via sacrebleu / rouge-score."""
    raise NotImplementedError("evaluate_text_metrics: being implemented (issue 5)")
