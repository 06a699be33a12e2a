"""Reward model (Bradley-Terry) from preference pairs with TRL's RewardTrainer.

The pairs are tokenized here, not by TRL (`training.engine.formatting`): the format follows the
base (a text pair for encoders, which have no EOS token; EOS-terminated text or the chat template
for causal LMs) and is recorded in the card, and long pairs are truncated (the response and the
prompt's last turns kept) instead of being dropped as TRL would. Both counts go to the metrics
and the card. Held-out accuracy comes with its 95% Wilson interval.

A ``weight`` column (e.g. the export's annotator reliability, ``weight=reliability``) makes
each pair's loss count with its weight: the loss is the weight-averaged Bradley-Terry loss
``sum_i w_i * -log sigmoid(r_chosen_i - r_rejected_i [- margin_i]) / sum_i w_i`` (plus
TRL's centring term). TRL's RewardTrainer reads ``margin`` but no weight, so a small
subclass carries the column through the collator and into the loss.
"""

from __future__ import annotations

from typing import Any, cast

from training.engine.config import RewardConfig
from training.engine.errors import DataError
from training.engine.evaluate import reward_accuracy_of
from training.engine.formatting import PairFormat, format_choose, pairs_tokenize
from training.engine.intervals import wilson_interval
from training.engine.methods import MethodResult
from training.engine.methods.common import dataset, score_model_load, tokenizer_load
from training.engine.runtime import Run, common_args, engine_callback, fit, lora_config, save_final


def reward_train(run: Run) -> MethodResult:
    # lazy: torch and its libraries take seconds to import; not needed until here
    from trl import RewardConfig as TRLRewardConfig
    from trl import RewardTrainer

    config = cast(RewardConfig, run.config)
    tokenizer = tokenizer_load(run.base)
    fmt = format_choose(tokenizer, max_length=config.max_length, base=run.base)
    model = score_model_load(run.base, tokenizer)
    train_rows, train_cut = pairs_tokenize(tokenizer, fmt, run.train_rows)
    eval_rows, eval_cut = pairs_tokenize(tokenizer, fmt, run.eval_rows)
    run.extra["reward_format"] = fmt.as_dict()
    run.extra["truncation"] = {"train": train_cut.as_dict(), "eval": eval_cut.as_dict()}
    cut = train_cut.prompt_truncated + eval_cut.prompt_truncated
    cut_response = train_cut.response_truncated + eval_cut.response_truncated
    if cut or cut_response:
        run.log(
            f"truncated {cut} pairs to max_length={fmt.max_length} tokens (prompt start "
            f"cut, response kept); {cut_response} of them had a response longer than that"
        )
    args = TRLRewardConfig(
        **common_args(run),
        max_length=config.max_length,
        center_rewards_coefficient=config.center_rewards_coefficient,
    )
    callback = engine_callback(run)
    weighted = bool(train_rows) and "weight" in train_rows[0]
    trainer_class = _weighted_trainer(RewardTrainer) if weighted else RewardTrainer
    trainer = trainer_class(
        model=model,
        args=args,
        train_dataset=dataset(train_rows),
        eval_dataset=dataset(eval_rows) if eval_rows else None,
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
    metrics["truncated_rows"] = float(cut)
    metrics["response_truncated_rows"] = float(cut_response)
    metrics["truncation_max_length"] = float(fmt.max_length)  # the config's, capped by the model
    if cancelled:
        return MethodResult(steps=steps, cancelled=True, metrics=metrics)
    if kept_eval:
        evaluation = trainer.evaluate()
        metrics.update({k: float(v) for k, v in evaluation.items() if isinstance(v, (int, float))})
        if "eval_accuracy" in metrics:
            low, high = wilson_interval(metrics["eval_accuracy"] * kept_eval, kept_eval)
            metrics.update(
                eval_accuracy_low=low, eval_accuracy_high=high, eval_pairs=float(kept_eval)
            )
        metrics.update(_heldout(trainer.model, tokenizer, fmt, run.eval_rows, config))
    save_final(run, trainer, tokenizer)  # every rank: ZeRO-3/FSDP gather
    return MethodResult(steps=steps, cancelled=False, metrics=metrics)


def _heldout(
    model: Any, tokenizer: Any, fmt: PairFormat, rows: list[dict[str, Any]], config: RewardConfig
) -> dict[str, float]:
    """The held-out pairwise accuracy the promotion gate reads: every held-out pair scored
    once by the trained model, in the recorded format (as the gate's scorer will), ties as
    half, with its 95% Wilson interval (TRL's eval_accuracy is a mean of batch means)."""
    was_training = model.training
    model.eval()
    figure = reward_accuracy_of(
        model, tokenizer, fmt, rows, batch_size=config.per_device_train_batch_size
    )
    model.train(was_training)
    return {
        "heldout_accuracy": figure["accuracy"],
        "heldout_accuracy_low": figure["accuracy_low"],
        "heldout_accuracy_high": figure["accuracy_high"],
        "heldout_accuracy_n": figure["n"],
        "heldout_ties": figure["ties"],
        "heldout_margin": figure["mean_margin"],
    }


def _weighted_trainer(base: Any) -> Any:
    """``base`` (TRL's RewardTrainer) with a per-pair loss weight from a ``weight`` column."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch
    from torch import nn
    from trl.trainer.reward_trainer import DataCollatorForPreference

    class WeightedCollator(DataCollatorForPreference):
        def torch_call(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
            out: dict[str, Any] = super().torch_call(examples)
            out["weight"] = torch.tensor([float(e["weight"]) for e in examples])
            return out

    class WeightedRewardTrainer(base):
        def __init__(self, *args: Any, processing_class: Any, **kwargs: Any) -> None:
            pad = processing_class.pad_token_id
            if pad is None:
                pad = processing_class.eos_token_id
            collator = WeightedCollator(
                pad_token_id=pad, pad_to_multiple_of=kwargs["args"].pad_to_multiple_of
            )
            super().__init__(
                *args, processing_class=processing_class, data_collator=collator, **kwargs
            )

        def _set_signature_columns_if_needed(self) -> None:
            signature: Any = getattr(self, "_signature_columns", None)
            if signature is None:
                self._signature_columns = ["chosen_ids", "rejected_ids", "margin", "weight"]

        def compute_loss(
            self,
            model: Any,
            inputs: dict[str, Any],
            return_outputs: bool = False,
            num_items_in_batch: Any = None,
        ) -> Any:
            weight = inputs.pop("weight")
            # TRL's own pass (the rewards, its metrics); its unweighted loss is replaced.
            _, outputs = super().compute_loss(
                model, inputs, return_outputs=True, num_items_in_batch=num_items_in_batch
            )
            chosen, rejected = torch.chunk(outputs.logits.squeeze(-1), chunks=2)
            gap = chosen - rejected
            if "margin" in inputs:
                gap = gap - inputs["margin"]
            weight = weight.to(gap.dtype)
            loss = -(weight * nn.functional.logsigmoid(gap)).sum() / weight.sum().clamp_min(1e-12)
            if self.args.center_rewards_coefficient is not None:
                loss = loss + self.args.center_rewards_coefficient * torch.mean(
                    (chosen + rejected) ** 2
                )
            return (loss, outputs) if return_outputs else loss

    return WeightedRewardTrainer
