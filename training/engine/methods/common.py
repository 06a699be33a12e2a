"""Loading helpers the methods share."""

from __future__ import annotations

from typing import Any

from training.engine.config import GenerateConfig
from training.engine.data import prompt_messages
from training.engine.errors import ConfigError, ModelNotFoundError
from training.engine.formatting import format_of_model, score_completions
from training.engine.generate import sample


def tokenizer_load(name: str) -> Any:
    """The base model's tokenizer, with a pad token (the EOS token when it has none)."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    from transformers import AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load a tokenizer from {name}: {exc}") from None
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def policy_check(base: str, tokenizer: Any, method: str) -> None:
    """An online method's policy samples answers and stops at its end token: a base without one
    (an encoder such as BERT) is refused before any model is loaded, naming the field."""
    if tokenizer.eos_token_id is None:
        raise ConfigError(
            f"{base} has no end-of-sequence token, so it cannot be the policy {method} trains (a "
            "causal LM that ends its answers with one); an encoder such as BERT can be the "
            "reward model, not the policy",
            field="base",
        )


def causal_lm_load(name: str, tokenizer: Any) -> Any:
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch
    from transformers import AutoModelForCausalLM

    try:  # fp32 master weights; bf16 on CUDA is autocast by the trainer (transformers 5 loads the
        # saved dtype by default, which would train a bf16 hub model in pure bf16)
        model = AutoModelForCausalLM.from_pretrained(name, dtype=torch.float32)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"cannot load a causal language model from {name}: {exc}"
        ) from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def score_model_load(name: str, tokenizer: Any, *, what: str = "a reward model") -> Any:
    """A sequence classifier with one output: a reward model (or a value model for PPO)."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch
    from transformers import AutoModelForSequenceClassification

    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            name, num_labels=1, dtype=torch.float32
        )
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(f"cannot load {what} from {name}: {exc}") from None
    model.config.pad_token_id = tokenizer.pad_token_id
    return model


def dataset(rows: list[dict[str, Any]]) -> Any:
    # lazy: torch and its libraries take seconds to import; not needed until here
    from datasets import Dataset

    return Dataset.from_list(rows)


def heldout_reward(
    rows: list[dict[str, Any]],
    *,
    policy: Any,
    tokenizer: Any,
    reward_model: Any,
    reward_tokenizer: Any,
    max_new_tokens: int,
    seed: int,
    reward_path: str | None = None,
) -> dict[str, float]:
    """Mean reward-model score of one sampled answer per held-out prompt (online methods),
    formatted as the reward model at `reward_path` was trained (its card)."""
    if not rows:
        return {}

    prompts = [prompt_messages(row["prompt"]) for row in rows]
    was_training = policy.training
    policy.eval()
    side = tokenizer.padding_side
    tokenizer.padding_side = "left"
    config = GenerateConfig(num_return_sequences=1, max_new_tokens=max_new_tokens, seed=seed)
    answers = sample(policy, tokenizer, prompts, config)
    tokenizer.padding_side = side
    policy.train(was_training)
    reward_tokenizer.padding_side = "right"
    fmt = format_of_model(reward_path or "", reward_tokenizer)
    items = [
        (prompt, [{"role": "assistant", "content": group[0]}])
        for prompt, group in zip(prompts, answers, strict=True)
    ]
    values = score_completions(reward_model.eval(), reward_tokenizer, fmt, items)
    return {"eval_reward": sum(values) / len(values), "eval_prompts": float(len(values))}
