"""Batched sampling of k completions per prompt from a model directory (or hub id)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from training.engine.config import GenerateConfig, build_config
from training.engine.errors import DataError
from training.engine.fast_generate import fallback_note, vllm_generate
from training.engine.formatting import chat_text
from training.engine.runtime import libraries_quiet, model_check


def prompts_check(prompts: Sequence[object]) -> None:
    """Each prompt must be a non-empty list of {"role", "content"} messages."""
    if not prompts:
        raise DataError("no prompts given")
    for i, prompt in enumerate(prompts):
        if not (
            isinstance(prompt, list)
            and prompt
            and all(
                isinstance(m, dict)
                and isinstance(m.get("role"), str)
                and isinstance(m.get("content"), str)
                for m in prompt
            )
        ):
            raise DataError(f'prompt {i}: expected a list of {{"role", "content"}} messages')


def device() -> Any:
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def causal_lm_for_inference(name: str | Path) -> tuple[Any, Any]:
    """(model, tokenizer) ready to sample: eval mode, left padding, bf16 on CUDA."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    libraries_quiet()
    model_check(str(name), what="model")
    tokenizer = AutoTokenizer.from_pretrained(name)
    tokenizer.padding_side = "left"
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    dtype = torch.bfloat16 if torch.cuda.is_available() else torch.float32
    model = AutoModelForCausalLM.from_pretrained(name, dtype=dtype).to(device()).eval()
    return model, tokenizer


def _batches(items: list[Any], size: int) -> Iterator[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sample(
    model: Any, tokenizer: Any, prompts: list[list[dict[str, str]]], config: GenerateConfig
) -> list[list[str]]:
    """Sample with an already loaded model; the seed fixes the texts for a given batch layout."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    torch.manual_seed(config.seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(config.seed)
    results: list[list[str]] = []
    for batch in _batches(prompts, config.batch_size):
        texts = [chat_text(tokenizer, p, add_generation_prompt=True) for p in batch]
        encoded = tokenizer(texts, return_tensors="pt", padding=True, add_special_tokens=False).to(
            model.device
        )
        with torch.inference_mode():
            output = model.generate(
                **encoded,
                do_sample=True,
                temperature=config.temperature,
                top_p=config.top_p,
                max_new_tokens=config.max_new_tokens,
                num_return_sequences=config.num_return_sequences,
                pad_token_id=tokenizer.pad_token_id,
                eos_token_id=tokenizer.eos_token_id,
            )
        new_tokens = output[:, encoded["input_ids"].shape[1] :]
        decoded = tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
        k = config.num_return_sequences
        results.extend([d.strip() for d in decoded[i * k : (i + 1) * k]] for i in range(len(batch)))
    return results


def generate(
    model: str | Path, prompts: list[list[dict[str, str]]], config: GenerateConfig | None = None
) -> list[list[str]]:
    """k = num_return_sequences sampled completions per prompt (chat template), texts only.

    Through vLLM where it is installed and a GPU is present, else transformers (with a message
    in the log: `training.engine.fast_generate`)."""
    config = build_config(GenerateConfig, dataclasses.asdict(config or GenerateConfig()))
    prompts_check(prompts)

    if fallback_note() is None:  # vLLM installed and a GPU present
        return vllm_generate(model, prompts, config)
    lm, tokenizer = causal_lm_for_inference(model)
    return sample(lm, tokenizer, prompts, config)
