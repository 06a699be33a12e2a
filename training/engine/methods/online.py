"""GRPO and RLOO (TRL's maintained online RL) with the trained reward model as the reward function.

The policy samples `num_generations` completions per prompt; the reward model scores them; the
group's relative scores are the advantages. Prompts longer than `max_length` tokens are dropped and
counted (TRL would otherwise spend the whole context on them).

The reward model is handed to TRL as a plain reward function (`recorded_format_reward`), not as a
model: given a model, TRL formats the texts itself (the reward tokenizer's chat template over
prompt + completion, untruncated, no special tokens), which is not how our reward models were
trained (a text pair for encoders, which have no chat template at all; keep-the-end truncation to
the recorded `max_length`). The function scores exactly as evaluation and the promotion gate do
(`formatting.score_completions` with the card's `reward_format`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, cast

from training.engine.config import GRPOConfig, RLOOConfig, _OnlineConfig
from training.engine.data import prompt_messages
from training.engine.errors import DataError
from training.engine.fast_generate import vllm_args
from training.engine.formatting import PairFormat, chat_text, format_of_model, score_completions
from training.engine.methods import MethodResult
from training.engine.methods.common import (
    causal_lm_load,
    dataset,
    heldout_reward,
    policy_check,
    score_model_load,
    tokenizer_load,
)
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_final


def prompts_within(run: Run, tokenizer: Any, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Prompt rows as message lists that fit in max_length tokens."""
    kept = []
    for row in rows:
        messages = prompt_messages(row["prompt"])
        text = chat_text(tokenizer, messages, add_generation_prompt=True)
        if len(tokenizer(text, add_special_tokens=False)["input_ids"]) <= run.config.max_length:
            kept.append({"prompt": messages})
    return kept


def recorded_format_reward(
    model: Any, tokenizer: Any, fmt: PairFormat, *, batch_size: int
) -> Callable[..., list[float]]:
    """A TRL reward function (``prompts``, ``completions`` -> one float each) that scores with
    the reward model's recorded formatting, as evaluation and the gate do."""

    def reward_model_score(prompts: list[Any], completions: list[Any], **_: Any) -> list[float]:
        items = list(zip(prompts, completions, strict=True))
        return score_completions(model, tokenizer, fmt, items, batch_size=batch_size)

    return reward_model_score


def _online_train(run: Run, *, rloo: bool) -> MethodResult:
    config = cast(_OnlineConfig, run.config)
    tokenizer = tokenizer_load(run.base)
    tokenizer.padding_side = "left"
    policy_check(run.base, tokenizer, run.method)
    train_rows = prompts_within(run, tokenizer, run.train_rows)
    eval_rows = prompts_within(run, tokenizer, run.eval_rows)
    dropped = {
        "train": len(run.train_rows) - len(train_rows),
        "eval": len(run.eval_rows) - len(eval_rows),
        "max_length": config.max_length,
    }
    run.extra["dropped_rows"] = dropped
    if not train_rows:
        raise DataError(f"every prompt is longer than max_length={config.max_length} tokens")
    assert run.reward_model is not None
    reward_tokenizer = tokenizer_load(run.reward_model)
    reward_model = score_model_load(run.reward_model, reward_tokenizer).eval()
    reward_format = format_of_model(run.reward_model, reward_tokenizer)
    reward_function = recorded_format_reward(
        reward_model,
        reward_tokenizer,
        reward_format,
        batch_size=config.per_device_train_batch_size * config.num_generations,
    )
    model = causal_lm_load(run.base, tokenizer)
    shared = {
        **common_args(run),
        "num_generations": config.num_generations,
        "max_completion_length": config.max_completion_length,
        "temperature": config.temperature,
        "top_p": config.top_p,
        "beta": config.beta,
        "log_completions": False,
        **vllm_args(run, config.use_vllm),
    }
    callback = engine_callback(run)
    trainer_kwargs = {
        "model": model,
        "reward_funcs": reward_function,
        "train_dataset": dataset(train_rows),
        "processing_class": tokenizer,
        "peft_config": lora_config(config, task_type="CAUSAL_LM"),
        "callbacks": [callback],
    }
    trainer: Any
    if rloo:
        # lazy: torch and its libraries take seconds to import; not needed until here
        from trl import RLOOConfig as TRLRLOOConfig
        from trl import RLOOTrainer

        trainer = RLOOTrainer(args=TRLRLOOConfig(**shared), **trainer_kwargs)
    else:
        # lazy: torch and its libraries take seconds to import; not needed until here
        from trl import GRPOConfig as TRLGRPOConfig
        from trl import GRPOTrainer

        trainer = GRPOTrainer(args=TRLGRPOConfig(**shared), **trainer_kwargs)
    # A reward function's model is not placed by TRL: put it where the rollouts are scored.
    reward_model.to(trainer.accelerator.device)
    steps, cancelled = fit(run, trainer, callback)
    metrics = dict(callback.last_metrics)
    metrics["dropped_rows"] = float(dropped["train"] + dropped["eval"])
    if cancelled:
        return MethodResult(steps=steps, cancelled=True, metrics=metrics)
    metrics.update(
        heldout_reward(
            eval_rows,
            policy=trainer.model,
            tokenizer=tokenizer,
            reward_model=reward_model,
            reward_tokenizer=reward_tokenizer,
            max_new_tokens=config.max_completion_length,
            seed=config.seed,
            reward_path=run.reward_model,
        )
    )
    save_final(run, trainer, tokenizer)  # every rank: ZeRO-3/FSDP gather
    return MethodResult(steps=steps, cancelled=cancelled, metrics=metrics)


def grpo_train(run: Run) -> MethodResult:
    cast(GRPOConfig, run.config)
    return _online_train(run, rloo=False)


def rloo_train(run: Run) -> MethodResult:
    cast(RLOOConfig, run.config)
    return _online_train(run, rloo=True)
