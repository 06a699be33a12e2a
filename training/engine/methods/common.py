"""Loading helpers the methods share."""

from __future__ import annotations

from typing import Any

from training.engine.errors import ModelNotFoundError


def tokenizer_load(name: str) -> Any:
    """The base model's tokenizer, with a pad token (the EOS token when it has none)."""
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load a tokenizer from {name}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def causal_lm_load(name: str, tokenizer: Any) -> Any:
    from transformers import AutoModelForCausalLM

    try:
        model = AutoModelForCausalLM.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"cannot load a causal language model from {name}: {exc}"
        ) from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def score_model_load(name: str, tokenizer: Any) -> Any:
    """A sequence classifier with one output: a reward model (or a value model for PPO)."""
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(name, num_labels=1)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load a reward model from {name}: {exc}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def dataset(rows: list[dict[str, Any]]) -> Any:
    from datasets import Dataset

    return Dataset.from_list(rows)
