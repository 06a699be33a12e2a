"""Kahneman-Tversky Optimization from unpaired good/bad examples, with TRL's KTOTrainer."""

from __future__ import annotations

from typing import cast

from training.engine.config import KTOConfig
from training.engine.methods import MethodResult
from training.engine.methods.common import causal_lm_load, dataset, tokenizer_load
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_final


def kto_train(run: Run) -> MethodResult:
    # lazy: torch and its libraries take seconds to import; not needed until here
    from trl import KTOConfig as TRLKTOConfig
    from trl import KTOTrainer

    config = cast(KTOConfig, run.config)
    tokenizer = tokenizer_load(run.base)
    model = causal_lm_load(run.base, tokenizer)
    args = TRLKTOConfig(
        **common_args(run),
        max_length=config.max_length,
        beta=config.beta,
        desirable_weight=config.desirable_weight,
        undesirable_weight=config.undesirable_weight,
    )
    callback = engine_callback(run)
    trainer = KTOTrainer(
        model=model,
        ref_model=None,  # a frozen copy, or the adapter-free base with LoRA
        args=args,
        train_dataset=dataset(run.train_rows),
        eval_dataset=dataset(run.eval_rows) if len(run.eval_rows) >= 2 else None,
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="CAUSAL_LM"),
        callbacks=[callback],
    )
    steps, cancelled = fit(run, trainer, callback)
    metrics = dict(callback.last_metrics)
    if cancelled:
        return MethodResult(steps=steps, cancelled=True, metrics=metrics)
    if trainer.eval_dataset is not None:
        evaluation = trainer.evaluate()
        metrics.update({k: float(v) for k, v in evaluation.items() if isinstance(v, (int, float))})
    save_final(run, trainer, tokenizer)  # every rank: ZeRO-3/FSDP gather
    return MethodResult(steps=steps, cancelled=False, metrics=metrics)
