"""Generation through vLLM where it can run (installed, and a CUDA GPU), else through transformers.

vLLM is an optional extra (requirements-gpu.txt). `vllm_unavailable()` says why it cannot be used
here, in words, or None when it can; the generate path then logs that reason and samples
with transformers' `generate`, so a CPU machine gives the same texts-per-prompt shape.

The offline `vllm.LLM` is kept for the last model directory it loaded: a generate job asks for
its completions in chunks, and loading vLLM (weights, CUDA graphs, KV cache) costs far more
than a chunk.
"""

from __future__ import annotations

import importlib.util
import logging
from pathlib import Path
from typing import Any

from training.engine.config import GenerateConfig
from training.engine.formatting import chat_text

logger = logging.getLogger("training.engine")

_LOADED: dict[str, Any] = {}


def vllm_unavailable() -> str | None:
    """Why vLLM cannot generate here (None: it can)."""
    if importlib.util.find_spec("vllm") is None:
        return "vLLM is not installed (pip install -r requirements-gpu.txt on a GPU machine)"
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    if not torch.cuda.is_available():
        return "vLLM needs a CUDA GPU and none is visible"
    return None


def fallback_note() -> str | None:
    """The message for a call that falls back to transformers (logged; None: vLLM is used)."""
    reason = vllm_unavailable()
    if reason is None:
        return None
    note = f"generating with transformers' generate: {reason}"
    logger.info(note)
    return note


def vllm_generate(
    model: str | Path, prompts: list[list[dict[str, str]]], config: GenerateConfig
) -> list[list[str]]:
    """k = num_return_sequences completions per prompt with vLLM's offline engine."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    from vllm import LLM, SamplingParams

    key = str(model)
    if key not in _LOADED:
        _LOADED.clear()  # one model at a time on the GPU
        _LOADED[key] = LLM(model=key, dtype="bfloat16", seed=config.seed)
    llm = _LOADED[key]
    tokenizer = llm.get_tokenizer()
    texts = [chat_text(tokenizer, p, add_generation_prompt=True) for p in prompts]
    params = SamplingParams(
        n=config.num_return_sequences,
        temperature=config.temperature,
        top_p=config.top_p,
        max_tokens=config.max_new_tokens,
        seed=config.seed,
    )
    outputs = llm.generate(texts, params, use_tqdm=False)
    return [[choice.text.strip() for choice in output.outputs] for output in outputs]


def vllm_args(run: Any, wanted: bool) -> dict[str, Any]:
    """TRL's GRPO/RLOO arguments for rollouts: vLLM colocated on the training GPUs when it was
    asked for and can run, else nothing (transformers' generate), saying why in the run's log."""
    if not wanted:
        return {}
    reason = vllm_unavailable()
    if reason is not None:
        run.log(f"use_vllm is on, but rollouts use transformers' generate: {reason}")
        return {}
    run.log("rollouts with vLLM (colocated)")
    return {"use_vllm": True, "vllm_mode": "colocate"}
