"""PPO with a value model, on `trl.experimental.ppo` (removed from TRL in 1.13; see the README).

Policy and frozen reference start from the base model; the value model starts from the trained
reward model (as in TRL's own PPO example); the reward model scores each rollout. Prompts come from
the dataset's `prompt` column; longer than `max_length` tokens are dropped and counted.

TRL's PPO loop has no resume: after a crash or a cancel the run starts again from the base model
(the checkpoints it wrote stay in out/checkpoints for inspection).
"""

from __future__ import annotations

from typing import Any, cast

from training.engine.config import PPOConfig
from training.engine.data import prompt_messages
from training.engine.errors import DataError
from training.engine.formatting import chat_text
from training.engine.methods import MethodResult
from training.engine.methods.common import (
    causal_lm_load,
    dataset,
    heldout_reward,
    score_model_load,
    tokenizer_load,
)
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_model


def _tokenized_prompts(
    run: Run, tokenizer: Any, rows: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    kept = []
    for row in rows:
        text = chat_text(tokenizer, prompt_messages(row["prompt"]), add_generation_prompt=True)
        ids = tokenizer(text, add_special_tokens=False)["input_ids"]
        if len(ids) <= run.config.max_length:
            kept.append({"input_ids": ids})
    return kept


def ppo_train(run: Run) -> MethodResult:
    # lazy: torch and its libraries take seconds to import; not needed until here
    from trl.experimental.ppo import PPOConfig as TRLPPOConfig
    from trl.experimental.ppo import PPOTrainer

    config = cast(PPOConfig, run.config)
    assert run.reward_model is not None
    tokenizer = tokenizer_load(run.base)
    tokenizer.padding_side = "left"
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
    value_model = score_model_load(run.reward_model, reward_tokenizer)
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
    train_dataset = dataset(train_rows)
    trainer = PPOTrainer(
        args=args,
        processing_class=tokenizer,
        model=policy,
        ref_model=reference,
        reward_model=reward_model,
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
