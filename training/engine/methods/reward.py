"""Reward model (Bradley-Terry) from preference pairs with TRL's RewardTrainer.

TRL drops pairs longer than `max_length` without a word; we count them, report them in the metrics
and the card, and refuse to start when nothing is left.
"""

from __future__ import annotations

from typing import Any, cast

from training.engine.config import RewardConfig
from training.engine.errors import DataError
from training.engine.methods import MethodResult
from training.engine.methods.common import dataset, score_model_load, tokenizer_load
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_final


def reward_train(run: Run) -> MethodResult:
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    config = cast(RewardConfig, run.config)
    tokenizer = tokenizer_load(run.base)
    model = score_model_load(run.base, tokenizer)
    args = TRLRewardConfig(
        **common_args(run),
        max_length=config.max_length,
        center_rewards_coefficient=config.center_rewards_coefficient,
    )
    callback = engine_callback(run)
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=dataset(run.train_rows),
        eval_dataset=dataset(run.eval_rows) if run.eval_rows else None,
        processing_class=tokenizer,
        peft_config=lora_config(config, task_type="SEQ_CLS"),
        callbacks=[callback],
    )
    processed: Any = trainer  # TRL types its datasets loosely; both are sized Datasets here
    kept_train = len(processed.train_dataset)
    kept_eval = len(processed.eval_dataset) if processed.eval_dataset is not None else 0
    dropped = {
        "train": len(run.train_rows) - kept_train,
        "eval": len(run.eval_rows) - kept_eval,
        "max_length": config.max_length,
    }
    run.extra["dropped_rows"] = dropped
    if dropped["train"] or dropped["eval"]:
        run.log(
            f"dropped {dropped['train']} training and {dropped['eval']} held-out pairs longer "
            f"than max_length={config.max_length} tokens"
        )
    if kept_train == 0:
        raise DataError(
            f"every training pair is longer than max_length={config.max_length} tokens; "
            "raise max_length or shorten the data"
        )

    steps, cancelled = fit(run, trainer, callback)
    metrics = dict(callback.last_metrics)
    metrics["dropped_rows"] = float(dropped["train"] + dropped["eval"])
    if cancelled:
        return MethodResult(steps=steps, cancelled=True, metrics=metrics)
    if kept_eval:
        evaluation = trainer.evaluate()
        metrics.update({k: float(v) for k, v in evaluation.items() if isinstance(v, (int, float))})
    save_final(run, trainer, tokenizer)  # every rank: ZeRO-3/FSDP gather
    return MethodResult(steps=steps, cancelled=False, metrics=metrics)
