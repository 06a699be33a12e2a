"""PPO with a value model, on `trl.experimental.ppo` (removed from TRL in 1.13; see the README).

Policy and frozen reference start from the base model, which must be a causal LM with an end
token (PPO stops each rollout there). The reward model scores each rollout in the format recorded
in its card, with its own tokenizer (`ppo_reward`: TRL's PPO would feed it the policy's token ids),
so an encoder reward model works and a causal one is read as it was trained. The value model reads
the policy's token ids: it starts from the reward model (as in TRL's own PPO example) when that is
a causal LM with the policy's tokenizer, and otherwise (an encoder, another vocabulary) from the
policy's base with a new value head; the card says which. Prompts come from the dataset's `prompt`
column; longer than `max_length` tokens are dropped and counted.

TRL's PPO loop has no resume: after a crash or a cancel the run starts again from the base model
(the checkpoints it wrote stay in out/checkpoints for inspection).
"""

from __future__ import annotations

from typing import Any, cast

from training.engine.config import PPOConfig
from training.engine.data import prompt_messages
from training.engine.errors import DataError
from training.engine.formatting import CAUSAL, chat_text, format_of_model
from training.engine.methods import MethodResult
from training.engine.methods.common import (
    causal_lm_load,
    dataset,
    heldout_reward,
    policy_check,
    score_model_load,
    tokenizer_load,
)
from training.engine.methods.ppo_reward import recorded_format_reward_model
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_model


def _tokenized_prompts(
    run: Run, tokenizer: Any, rows: list[dict[str, Any]]
) -> list[tuple[list[int], list[dict[str, str]]]]:
    """(input ids, prompt messages) of each prompt within max_length tokens."""
    kept = []
    for row in rows:
        messages = prompt_messages(row["prompt"])
        text = chat_text(tokenizer, messages, add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= run.config.max_length:
            kept.append((ids, messages))
    return kept


def _value_model(run: Run, tokenizer: Any, reward_tokenizer: Any, reward_kind: str) -> Any:
    """The value model, which reads the policy's token ids (see the module's docstring)."""
    assert run.reward_model is not None
    if reward_kind == CAUSAL and reward_tokenizer.get_vocab() == tokenizer.get_vocab():
        run.extra["value_model"] = run.reward_model
        return score_model_load(run.reward_model, reward_tokenizer, what="a value model")
    run.extra["value_model"] = run.base
    return score_model_load(run.base, tokenizer, what="a value model (the policy's base)")


def ppo_train(run: Run) -> MethodResult:
    # lazy: torch and its libraries take seconds to import; not needed until here
    from trl.experimental.ppo import PPOConfig as TRLPPOConfig
    from trl.experimental.ppo import PPOTrainer

    config = cast(PPOConfig, run.config)
    assert run.reward_model is not None
    tokenizer = tokenizer_load(run.base)
    tokenizer.padding_side = "left"
    policy_check(run.base, tokenizer, run.method)
    train_rows = _tokenized_prompts(run, tokenizer, run.train_rows)
    dropped = {
        "train": len(run.train_rows) - len(train_rows),
        "eval": 0,
        "max_length": config.max_length,
    }
    run.extra["dropped_rows"] = dropped
    batch = config.per_device_train_batch_size * config.gradient_accumulation_steps
    if len(train_rows) < batch:
        raise DataError(
            f"PPO needs at least one full batch of prompts ({batch}) within max_length="
            f"{config.max_length} tokens; {len(train_rows)} remain"
        )
    reward_tokenizer = tokenizer_load(run.reward_model)
    reward_model = score_model_load(run.reward_model, reward_tokenizer)
    reward_format = format_of_model(run.reward_model, reward_tokenizer)
    value_model = _value_model(run, tokenizer, reward_tokenizer, reward_format.kind)
    scorer = recorded_format_reward_model(
        reward_model,
        reward_tokenizer,
        reward_format,
        policy_tokenizer=tokenizer,
        queries=train_rows,
        batch_size=config.per_device_train_batch_size,
    )
    policy = causal_lm_load(run.base, tokenizer)
    reference = None if config.use_lora else causal_lm_load(run.base, tokenizer)
    args = TRLPPOConfig(
        **common_args(run),
        total_episodes=config.max_steps * batch if config.max_steps > 0 else None,
        response_length=config.response_length,
        temperature=config.temperature,
        num_ppo_epochs=config.num_ppo_epochs,
        num_mini_batches=config.num_mini_batches,
        kl_coef=config.kl_coef,
        cliprange=config.cliprange,
        vf_coef=config.vf_coef,
        missing_eos_penalty=config.missing_eos_penalty,
        stop_token="eos",
        num_sample_generations=0,
        local_rollout_forward_batch_size=config.per_device_train_batch_size,
    )
    callback = engine_callback(run, raise_after_save=True)
    train_dataset = dataset([{"input_ids": ids} for ids, _ in train_rows])
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=reference,
        reward_model=scorer,
        value_model=value_model,
        train_dataset=train_dataset,
        eval_dataset=train_dataset,  # only read for sample generations, which are off
        peft_config=lora_config(config, task_type="CAUSAL_LM"),
        callbacks=[callback],
    )
    steps, cancelled = fit(run, trainer, callback, resumable=False)
    metrics = dict(callback.last_metrics)
    metrics["dropped_rows"] = float(dropped["train"])
    if cancelled:
        return MethodResult(steps=steps, cancelled=True, metrics=metrics)
    metrics.update(
        heldout_reward(
            run.eval_rows,
            policy=trainer.policy_model,
            tokenizer=tokenizer,
            reward_model=reward_model,
            reward_tokenizer=reward_tokenizer,
            max_new_tokens=config.response_length,
            seed=config.seed,
            reward_path=run.reward_model,
        )
    )
    if trainer.accelerator.is_main_process:
        save_model(run, trainer.policy_model, tokenizer)
    return MethodResult(steps=steps, cancelled=False, metrics=metrics)
