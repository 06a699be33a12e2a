"""`train`: validate everything, then run one method into an output directory."""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from pathlib import Path

from training.engine.catalog import config_coerce, method_get
from training.engine.config import TrainConfig
from training.engine.data import data_read, data_split
from training.engine.distributed import barrier, launched, rank_hooks
from training.engine.errors import ConfigError, EngineError
from training.engine.launch import train_launched
from training.engine.results import Hooks, Progress, TrainResult
from training.engine.runtime import Run, card_build, card_write, libraries_quiet, model_check


def train(
    method: str,
    *,
    data: str | Path,
    base: str,
    out: str | Path,
    config: TrainConfig | Mapping[str, object] | None = None,
    reward_model: str | None = None,
    hooks: Hooks | None = None,
) -> TrainResult:
    """Train `method` on the JSONL file `data` from `base` (hub id or local dir) into `out`.

    Checkpoints go to out/checkpoints every save_steps; if one exists there, training resumes from
    the last one. `reward_model` (a reward model directory) is required for ppo, grpo and rloo.
    Everything (config, data, model paths) is validated before any model is loaded for training.
    With `processes` above 1 in the config, the run is started as that many ranks
    (`training.engine.launch.train_launched`) and its result returned the same way.
    """

    spec = method_get(method)
    cfg = config_coerce(method, config)
    data_file = data_read(data, method)
    model_check(str(base), what="base model")
    if spec.needs_reward_model:
        if not reward_model:
            raise ConfigError(f"{method} needs a trained reward model", field="reward_model")
        model_check(str(reward_model), what="reward model")
    elif reward_model:
        raise ConfigError(f"{method} does not use a reward model", field="reward_model")
    if cfg.processes > 1 and not launched():
        # The same call as N ranks under a launcher; every rank runs this function again.
        return train_launched(
            method,
            data=data,
            base=base,
            out=out,
            config=cfg,
            reward_model=reward_model,
            hooks=hooks,
            processes=cfg.processes,
            backend=cfg.backend,
        )
    train_rows, eval_rows = data_split(
        data_file.rows, eval_fraction=cfg.eval_fraction, seed=cfg.seed
    )
    libraries_quiet()
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EngineError(f"output path {out} is a file, not a directory")
    out.mkdir(parents=True, exist_ok=True)
    run = Run(
        method=method,
        config=cfg,
        data=data_file,
        train_rows=train_rows,
        eval_rows=eval_rows,
        base=str(base),
        out=out,
        hooks=rank_hooks(hooks or Hooks()),  # rank 0 alone reports
        reward_model=str(reward_model) if reward_model else None,
    )
    run.log(
        f"training {method} from {base} on {data_file.path.name} "
        f"({len(train_rows)} train / {len(eval_rows)} held-out rows) into {out}"
    )
    module_name, entry = spec.entry.rsplit(".", 1)
    module = importlib.import_module(f"training.engine.methods.{module_name}")
    outcome = getattr(module, entry)(run)
    card = card_build(
        run, metrics=outcome.metrics, steps=outcome.steps, cancelled=outcome.cancelled
    )
    if not outcome.cancelled and run.model_dir.is_dir():
        card_write(run, card)
    if run.hooks.on_progress is not None:
        run.hooks.on_progress(
            Progress(
                step=outcome.steps,
                total_steps=run.total_steps or outcome.steps,
                metrics=outcome.metrics,
            )
        )
    run.log(f"{'cancelled' if outcome.cancelled else 'finished'} after {outcome.steps} steps")
    barrier()  # under a launcher the other ranks wait until rank 0 has written model and card
    return TrainResult(
        model_dir=run.model_dir,
        metrics=outcome.metrics,
        steps=outcome.steps,
        cancelled=outcome.cancelled,
        card=card,
    )
