"""Generation falls back to transformers, with a message, where vLLM cannot run (here: no vLLM,
no GPU); the texts keep their shape."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.engine.conftest import QUESTIONS
from training.engine import GenerateConfig, generate
from training.engine.fast_generate import vllm_unavailable


def test_generate_without_vllm_uses_transformers_and_says_why(
    tiny_model: Path, caplog: pytest.LogCaptureFixture
) -> None:
    reason = vllm_unavailable()
    if reason is None:
        pytest.skip("vLLM and a GPU are present: the vLLM path runs instead")
    prompts = [[{"role": "user", "content": q}] for q in QUESTIONS[:3]]

    with caplog.at_level(logging.INFO, logger="training.engine"):
        texts = generate(
            tiny_model, prompts, GenerateConfig(num_return_sequences=2, max_new_tokens=4)
        )

    assert [len(group) for group in texts] == [2, 2, 2]
    assert all(isinstance(t, str) for group in texts for t in group)
    assert f"generating with transformers' generate: {reason}" in caplog.text
