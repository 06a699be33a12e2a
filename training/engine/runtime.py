"""What every method shares: run context, device flags, progress/stop callback, resume, saving.

torch, transformers and peft are imported inside the functions, never at module import.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import platform
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from training.engine.config import TrainConfig
from training.engine.data import DataFile
from training.engine.distributed import any_rank
from training.engine.errors import ModelNotFoundError
from training.engine.hardware import precision_resolve
from training.engine.results import Hooks, Progress

logger = logging.getLogger("training.engine")

LIBRARIES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "tokenizers")


class Cancelled(Exception):
    """Raised inside a trainer's own loop (PPO) once the checkpoint after a stop is written."""


@dataclass
class Run:
    """One training run: validated inputs, where it writes, and the caller's hooks."""

    method: str
    config: TrainConfig
    data: DataFile
    train_rows: list[dict[str, Any]]
    eval_rows: list[dict[str, Any]]
    base: str
    out: Path
    hooks: Hooks
    reward_model: str | None = None
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    total_steps: int = 0  # the trainer's planned optimizer steps, known once training begins
    extra: dict[str, Any] = field(default_factory=dict)  # method facts for the card (dropped rows)

    @property
    def checkpoints_dir(self) -> Path:
        return self.out / "checkpoints"

    @property
    def model_dir(self) -> Path:
        return self.out / "model"

    def log(self, message: str) -> None:
        logger.info("%s: %s", self.method, message)
        if self.hooks.on_log is not None:
            self.hooks.on_log(message)


def libraries_quiet() -> None:
    """Silence the libraries' progress bars: a worker's log is read by people, not terminals."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import datasets
    import transformers

    datasets.disable_progress_bars()
    transformers.utils.logging.disable_progress_bar()
    transformers.utils.logging.set_verbosity_error()


def model_check(name: str, *, what: str) -> None:
    """Fail early with ModelNotFoundError when `name` is neither a model directory nor a hub id."""
    path = Path(name).expanduser()
    if path.exists():
        if not path.is_dir():
            raise ModelNotFoundError(f"{what} {name} is a file, not a model directory")
        if not (path / "config.json").is_file() and not (path / "adapter_config.json").is_file():
            raise ModelNotFoundError(f"{what} {name} has no config.json: not a model directory")
        return
    looks_local = name.startswith((".", "/", "~")) or os.sep + os.sep in name or name.count("/") > 1
    if looks_local or not name.strip():
        raise ModelNotFoundError(f"{what} {name} does not exist")
    # lazy: torch and its libraries take seconds to import; not needed until here
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as exc:
        raise ModelNotFoundError(
            f"{what} {name!r} is not a local directory and cannot be loaded from the hub: {exc}"
        ) from None


def device_args(config: TrainConfig) -> dict[str, Any]:
    """Arguments for this machine: bf16 mixed precision where it is native (config.precision,
    training.engine.hardware); on CPU the flags that avoid TRL's 3x slowdown."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    cuda = torch.cuda.is_available()
    bf16 = precision_resolve(config.precision) == "bf16"
    return {
        "bf16": bf16,
        # transformers refuses bf16 without a GPU unless told it is on the CPU on purpose
        **({"use_cpu": True} if bf16 and not cuda else {}),
        "activation_checkpointing": False,
        "gradient_checkpointing": False,
        "dataloader_pin_memory": cuda,
    }


def common_args(run: Run) -> dict[str, Any]:
    """The TrainingArguments every TRL config of ours shares."""
    c = run.config
    return {
        "output_dir": str(run.checkpoints_dir),
        "max_steps": c.max_steps,
        "num_train_epochs": c.num_train_epochs,
        "learning_rate": c.learning_rate,
        "per_device_train_batch_size": c.per_device_train_batch_size,
        "per_device_eval_batch_size": c.per_device_train_batch_size,
        "gradient_accumulation_steps": c.gradient_accumulation_steps,
        "seed": c.seed,
        "data_seed": c.seed,
        "save_strategy": "steps",
        "save_steps": c.save_steps,
        "save_total_limit": 2,
        "logging_steps": c.logging_steps,
        "logging_first_step": True,
        "eval_strategy": "no",
        "report_to": "none",
        "disable_tqdm": True,
        **device_args(c),
    }


def lora_config(config: TrainConfig, *, task_type: str) -> Any:
    """A peft LoraConfig on every linear layer, or None when LoRA is off."""
    if not config.use_lora:
        return None
    # lazy: torch and its libraries take seconds to import; not needed until here
    from peft import LoraConfig

    return LoraConfig(
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=0.0,
        target_modules="all-linear",
        task_type=task_type,
        modules_to_save=["score"] if task_type == "SEQ_CLS" else None,
    )


def _numeric(logs: dict[str, Any]) -> dict[str, float]:
    return {
        k: float(v)
        for k, v in logs.items()
        if isinstance(v, (int, float)) and not isinstance(v, bool)
    }


def engine_callback(run: Run, *, raise_after_save: bool = False) -> Any:
    """A TrainerCallback that reports progress through the hooks and stops cleanly when asked.

    On a stop request it asks the trainer for a checkpoint, so the cancelled run can be resumed.
    TRL's PPO loop ignores `should_training_stop`; there `raise_after_save` ends it by raising
    Cancelled from `on_save`, after that checkpoint is on disk.
    """
    # lazy: torch and its libraries take seconds to import; not needed until here
    from transformers import TrainerCallback

    hooks = run.hooks

    class EngineCallback(TrainerCallback):
        def __init__(self) -> None:
            self.cancelled = False
            self.last_metrics: dict[str, float] = {}

        def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            run.total_steps = int(state.max_steps or 0)

        def on_log(self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any) -> None:
            metrics = _numeric(logs or {})
            self.last_metrics.update(metrics)
            if hooks.on_progress is not None:
                hooks.on_progress(
                    Progress(
                        step=state.global_step,
                        total_steps=state.max_steps,
                        metrics=metrics,
                        epoch=state.epoch,
                    )
                )
            shown = ", ".join(f"{k}={v:.4g}" for k, v in sorted(metrics.items())[:8])
            run.log(f"step {state.global_step}/{state.max_steps}: {shown}")

        def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            # Rank 0 asks (the others have no should_stop); every rank learns it at this step.
            asked = hooks.should_stop is not None and hooks.should_stop()
            if any_rank(asked):
                self.cancelled = True
                control.should_save = True
                control.should_training_stop = True
                run.log(f"stop requested: checkpointing at step {state.global_step} and stopping")

        def on_save(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
            if self.cancelled and raise_after_save:
                raise Cancelled

    return EngineCallback()


def last_checkpoint(checkpoints_dir: Path) -> str | None:
    """The newest complete checkpoint in ``checkpoints_dir``, if any."""
    if not checkpoints_dir.is_dir():
        return None
    # A worker killed mid-save leaves a checkpoint folder without its trainer state (the
    # Trainer writes trainer_state.json after the weights and optimizer): skip those.
    steps = []
    for folder in checkpoints_dir.glob("checkpoint-*"):
        suffix = folder.name.removeprefix("checkpoint-")
        if suffix.isdigit() and (folder / "trainer_state.json").is_file():
            steps.append((int(suffix), folder))
    return str(max(steps)[1]) if steps else None


def fit(run: Run, trainer: Any, callback: Any, *, resumable: bool = True) -> tuple[int, bool]:
    """Train (resuming from the last checkpoint when there is one); returns (steps, cancelled)."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    from transformers import PrinterCallback

    trainer.remove_callback(PrinterCallback)  # it prints every log to stdout; we report via hooks
    checkpoint = last_checkpoint(run.checkpoints_dir) if resumable else None
    if checkpoint:
        run.log(f"resuming from {Path(checkpoint).name}")
        run.extra["resumed_from"] = Path(checkpoint).name
    try:
        if resumable:
            trainer.train(resume_from_checkpoint=checkpoint)
        else:
            trainer.train()
    except Cancelled:
        pass
    return int(trainer.state.global_step), bool(callback.cancelled)


def save_model(run: Run, model: Any, tokenizer: Any) -> None:
    """Write safetensors weights, config and tokenizer to out/model; LoRA merged or as adapters."""
    target = run.model_dir
    target.mkdir(parents=True, exist_ok=True)
    is_peft = hasattr(model, "peft_config")
    if is_peft and run.config.merge_lora:
        model = model.merge_and_unload()
    model.save_pretrained(target, safe_serialization=True)
    tokenizer.save_pretrained(target)
    run.log(f"saved {'adapters' if is_peft and not run.config.merge_lora else 'model'} to {target}")


def _sharded(trainer: Any) -> bool:
    """Whether the weights are split across ranks (DeepSpeed ZeRO-3 or FSDP)."""
    accelerator = getattr(trainer, "accelerator", None)
    if accelerator is None:
        return False
    state = accelerator.state
    deepspeed = getattr(state, "deepspeed_plugin", None)
    return getattr(state, "fsdp_plugin", None) is not None or (
        deepspeed is not None and int(getattr(deepspeed, "zero_stage", 0) or 0) == 3
    )


def save_final(run: Run, trainer: Any, tokenizer: Any) -> None:
    """Save the trained model to out/model; every rank calls it, rank 0 writes.

    Replicated weights (one process, DDP, ZeRO-2) are written by rank 0 alone (`save_model`).
    Sharded weights (ZeRO-3, FSDP) are gathered by the Trainer's own `save_model`, a collective
    every rank must enter (ZeRO-3 needs `zero3_save_16bit_model: true`, FSDP a
    `FULL_STATE_DICT`, as config/accelerate/ sets); LoRA adapters are then saved unmerged.
    """
    if _sharded(trainer):
        trainer.save_model(str(run.model_dir))
        if trainer.is_world_process_zero():
            tokenizer.save_pretrained(run.model_dir)
            run.log(f"saved the gathered model to {run.model_dir}")
        return
    if trainer.is_world_process_zero():
        save_model(run, trainer.model, tokenizer)


def library_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def card_build(
    run: Run, *, metrics: dict[str, float], steps: int, cancelled: bool
) -> dict[str, Any]:
    """The lineage card: what was trained from what, how, with which libraries, and how it went."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    import torch

    return {
        "method": run.method,
        "status": "cancelled" if cancelled else "completed",
        "base_model": run.base,
        "reward_model": run.reward_model,
        "dataset": {
            "file": run.data.path.name,
            "sha256": run.data.sha256,
            "rows": len(run.data.rows),
            "train_rows": len(run.train_rows),
            "eval_rows": len(run.eval_rows),
            "conversational": run.data.conversational,
        },
        "config": dataclasses.asdict(run.config),
        "lora": (
            {
                "r": run.config.lora_r,
                "alpha": run.config.lora_alpha,
                "merged": run.config.merge_lora,
            }
            if run.config.use_lora
            else None
        ),
        "versions": library_versions(),
        "device": "cuda" if torch.cuda.is_available() else "cpu",
        "precision": precision_resolve(run.config.precision),
        "metrics": metrics,
        "steps": steps,
        "started_at": run.started_at.isoformat(),
        "finished_at": datetime.now(UTC).isoformat(),
        **run.extra,
    }


def is_main_process() -> bool:
    """True on the process that writes files (rank 0 under `accelerate launch`, or alone)."""
    # lazy: torch and its libraries take seconds to import; not needed until here
    from accelerate import PartialState

    return bool(PartialState().is_main_process)


def card_write(run: Run, card: dict[str, Any]) -> None:
    if not is_main_process():
        return
    (run.model_dir / "card.json").write_text(json.dumps(card, indent=2) + "\n", encoding="utf-8")
