"""Engine overhead: the engine's reward and DPO runs against a bare TRL script, same everything.

Both sides load the tiny model, build the TRL trainer with the same hyperparameters and CPU flags,
train one epoch over the same pairs and save the model; the wall time of that whole call gives
pairs/s. The engine adds input checks, the split, hooks, checkpoints and the card. Target: engine
within 1.10x of bare TRL. Runs alternate and the best of N is kept (the machine is shared).

    .venv/bin/python bench/train.py [--pairs 128] [--repeats 3] [--methods reward dpo]

With `--processes N` it measures instead one process against N launched ranks (DDP over gloo on
CPU, `training.engine.launch`, the path a job with `processes: N` takes), at the same effective
batch (the per-device batch divided by N): pairs/s of the whole call (launch, imports and model
loading in every rank included) and of the training loop alone (the Trainer's own
samples/s), and the optimizer steps of each side, which must match.

    .venv/bin/python bench/train.py --processes 2 [--pairs 256] [--repeats 2]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._pairs import pairs_write
from training.engine import build_tiny_model, train
from training.engine.launch import train_launched

HYPER: dict[str, Any] = {
    "learning_rate": 1e-4,
    "per_device_train_batch_size": 8,
    "num_train_epochs": 1.0,
    "max_length": 256,
    "seed": 0,
}


def bare_trl(method: str, data: Path, base: Path, out: Path) -> None:
    """What a user would write with TRL alone (with the CPU flags the notes name)."""
    import torch
    from datasets import load_dataset
    from transformers import (
        AutoModelForCausalLM,
        AutoModelForSequenceClassification,
        AutoTokenizer,
    )

    cuda = torch.cuda.is_available()
    flags: dict[str, Any] = {
        "output_dir": str(out),
        "report_to": "none",
        "save_strategy": "no",
        "disable_tqdm": True,
        "bf16": cuda,
        "activation_checkpointing": False,
        "gradient_checkpointing": False,
        "logging_steps": 5,
        **HYPER,
    }
    tokenizer = AutoTokenizer.from_pretrained(base)
    trainer: Any
    dataset = load_dataset("json", data_files=str(data), split="train")
    if method == "reward":
        from trl import RewardConfig, RewardTrainer

        model = AutoModelForSequenceClassification.from_pretrained(base, num_labels=1)
        model.config.pad_token_id = tokenizer.pad_token_id
        trainer = RewardTrainer(
            model=model,
            args=RewardConfig(**flags),
            train_dataset=dataset,
            processing_class=tokenizer,
        )
    else:
        from trl import DPOConfig, DPOTrainer

        model = AutoModelForCausalLM.from_pretrained(base)
        trainer = DPOTrainer(
            model=model, args=DPOConfig(**flags), train_dataset=dataset, processing_class=tokenizer
        )
    trainer.train()
    trainer.save_model(str(out / "model"))


def engine(method: str, data: Path, base: Path, out: Path) -> None:
    config = {**HYPER, "eval_fraction": 0.0, "save_steps": 10_000, "logging_steps": 5}
    train(method, data=data, base=str(base), out=out, config=config)


def processes_compare(
    data: Path, base: Path, work: Path, pairs: int, processes: int, repeats: int
) -> None:
    """One process against `processes` launched ranks, same data and effective batch."""
    batch = int(HYPER["per_device_train_batch_size"])
    if batch % processes:
        raise SystemExit(f"--processes must divide the batch of {batch}")
    config = {**HYPER, "eval_fraction": 0.0, "save_steps": 10_000, "logging_steps": 5}
    print(f"{pairs} pairs, tiny model, effective batch {batch}, one process against {processes}")
    for method in ("reward", "dpo"):
        rows: dict[str, list[tuple[float, float, int]]] = {"1": [], str(processes): []}
        for i in range(repeats):
            for side in rows:
                out = work / f"{method}-{side}-{i}"
                start = time.perf_counter()
                if side == "1":
                    result = train(method, data=data, base=str(base), out=out, config=config)
                else:
                    result = train_launched(
                        method,
                        data=data,
                        base=str(base),
                        out=out,
                        config={**config, "per_device_train_batch_size": batch // processes},
                        processes=processes,
                    )
                wall = pairs / (time.perf_counter() - start)
                loop = float(result.metrics.get("train_samples_per_second", 0.0))
                rows[side].append((wall, loop, result.steps))
                shutil.rmtree(out)
        for side, runs in rows.items():
            wall, loop = max(r[0] for r in runs), max(r[1] for r in runs)
            steps = sorted({r[2] for r in runs})
            print(
                f"{method:6s} {side} process{'es' if side != '1' else '  '}: "
                f"{wall:7.1f} pairs/s whole call  {loop:7.1f} pairs/s training loop  "
                f"steps {steps}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--pairs", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--methods", nargs="+", default=["reward", "dpo"], choices=["reward", "dpo"]
    )
    parser.add_argument(
        "--processes", type=int, default=1, help="compare one process against this many"
    )
    args = parser.parse_args()
    import torch

    from training.engine.runtime import libraries_quiet

    libraries_quiet()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    work = Path(tempfile.mkdtemp(prefix="bench-train-"))
    try:
        base = build_tiny_model(work / "tiny")
        data = pairs_write(work / "pairs.jsonl", args.pairs)
        if args.processes > 1:
            processes_compare(data, base, work, args.pairs, args.processes, args.repeats)
            return
        print(f"{args.pairs} pairs, tiny model, threads={torch.get_num_threads()}, {HYPER}")
        for method in args.methods:
            engine(method, data, base, work / "warmup")  # first-call imports out of the timing
            shutil.rmtree(work / "warmup")
            rates: dict[str, list[float]] = {"bare": [], "engine": []}
            for i in range(args.repeats):
                for side, fn in (("bare", bare_trl), ("engine", engine)):
                    out = work / f"{method}-{side}-{i}"
                    start = time.perf_counter()
                    fn(method, data, base, out)
                    rates[side].append(args.pairs / (time.perf_counter() - start))
                    shutil.rmtree(out)
            bare, eng = max(rates["bare"]), max(rates["engine"])
            print(
                f"{method:6s} bare TRL {bare:7.1f} pairs/s  engine {eng:7.1f} pairs/s  "
                f"engine time / bare time {bare / eng:.3f}x  "
                f"(medians {statistics.median(rates['bare']):.1f} / "
                f"{statistics.median(rates['engine']):.1f})"
            )
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
