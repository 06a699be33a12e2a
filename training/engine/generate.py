"""Batched sampling of k completions per prompt from a model directory."""

from __future__ import annotations

from pathlib import Path

from training.engine.config import GenerateConfig


def generate(
    model: str | Path, prompts: list[list[dict[str, str]]], config: GenerateConfig | None = None
) -> list[list[str]]:
    """k = num_return_sequences sampled completions per prompt (chat template), texts only."""
    raise NotImplementedError("generate: being implemented (issue 5)")
