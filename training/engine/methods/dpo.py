"""Direct Preference Optimization with TRL's DPOTrainer: a frozen reference copy, or LoRA.

With LoRA the reference model is the base with the adapters switched off, so no copy is held.
"""

from __future__ import annotations

from typing import cast

from training.engine.config import DPOConfig
from training.engine.methods import MethodResult
from training.engine.methods.common import causal_lm_load, dataset, tokenizer_load
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_final

# TRL's metric names -> ours (the same names as the reward model's, so pages can chart both).
RENAMES = {"eval_rewards/accuracies": "eval_accuracy", "eval_rewards/margins": "eval_margin"}


def dpo_train(run: Run) -> MethodResult:
    # lazy: torch and its libraries take seconds to import; not needed until here
    from trl import DPOConfig as TRLDPOConfig
    from trl import DPOTrainer

    config = cast(DPOConfig, run.config)
    tokenizer = tokenizer_load(run.base)
    model = causal_lm_load(run.base, tokenizer)
    args = TRLDPOConfig(
        **common_args(run),
        max_length=config.max_length,
        beta=config.beta,
        loss_type=[config.loss_type],
        label_smoothing=config.label_smoothing,
    )
    callback = engine_callback(run)
    trainer = DPOTrainer(
        model=model,
        ref_model=None,  # TRL makes a frozen copy, or uses the adapter-free base with LoRA
        args=args,
        train_dataset=dataset(run.train_rows),
        eval_dataset=dataset(run.eval_rows) if run.eval_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="CAUSAL_LM"),
        callbacks=[callback],
    )
    steps, cancelled = fit(run, trainer, callback)
    metrics = dict(callback.last_metrics)
    if cancelled:
        return MethodResult(steps=steps, cancelled=True, metrics=metrics)
    if run.eval_rows:
        evaluation = trainer.evaluate()
        for key, value in evaluation.items():
            if isinstance(value, (int, float)):
                metrics[RENAMES.get(key, key)] = float(value)
    save_final(run, trainer, tokenizer)  # every rank: ZeRO-3/FSDP gather
    return MethodResult(steps=steps, cancelled=False, metrics=metrics)
