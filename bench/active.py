"""Does spending labels where the reward model is unsure pay? Active labelling on real pairs.

Simulated annotators answer from held-out real human preference pairs in ../shared/data (the
LLaMA-Factory DPO demo and the Open-Assistant trees, as bench/learning.py reads them): each
pair is an item with its two responses, and the annotator's verdict is the real human one.
The pairs are split by prompt into a pool to label and a held-out test half.

Each policy labels the pool one item at a time, in its own order, and every ``--every``
labels a reward model is trained afresh on the labels so far (the engine's reward training
on ``--base``, by default the tiny local model, the one CI and the demo have) and its
held-out accuracy is measured with the engine's own evaluation:

- ``fifo``: the pool in its order (the project's default policy);
- ``random``: a seeded shuffle;
- ``uncertainty``: the first batch at random (no model yet), then, after every retrain, the
  unlabelled items whose two responses the current reward model scores closest (the
  ``uncertainty`` policy's ``rm_margin``, scored by the engine's scoring as the project's
  scoring job does);
- ``disagreement`` needs several annotators per item and is not simulated here (with one
  verdict per item it is ``fifo``).

It prints held-out accuracy against labels for each policy (a table), writes a PNG plot
(matplotlib where installed, else a plain SVG) and says how many labels ``uncertainty``
needed to reach what ``random`` reached at the end (or that it never did).

    nice .venv/bin/python bench/active.py [--labels 400] [--every 80] [--seeds 2]
    .venv/bin/python bench/active.py --smoke          # tiny size, for make bench-smoke
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._data import SHARED_DATA as SHARED  # noqa: E402
from bench._data import llamafactory_pairs, oasst_pairs, split_by_prompt  # noqa: E402

POLICIES = ("fifo", "random", "uncertainty")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=400, help="labels per policy")
    parser.add_argument("--every", type=int, default=80, help="retrain every N labels")
    parser.add_argument("--seeds", type=int, default=2, help="repeats (mean reported)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--base", default="", help="reward-model base (default: tiny model)")
    parser.add_argument("--test", type=int, default=300, help="held-out pairs scored")
    parser.add_argument("--out", default="", help="folder for the PNG (default: a temp dir)")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (seconds)")
    return parser.parse_args()


def margins(model_dir: Path, rows: list[dict[str, Any]]) -> list[float]:
    """The reward model's |score(a) - score(b)| for each item (the engine's scoring)."""
    from training.engine.evaluate import reward_format_load, reward_model_load
    from training.engine.formatting import score_completions

    model, tokenizer = reward_model_load(model_dir)
    fmt = reward_format_load(model_dir, tokenizer)
    items = [(r["prompt"], r[side]) for side in ("chosen", "rejected") for r in rows]
    values = score_completions(model, tokenizer, fmt, items)
    a, b = values[: len(rows)], values[len(rows) :]
    return [abs(x - y) for x, y in zip(a, b, strict=True)]


def train_and_measure(
    labelled: list[dict[str, Any]], base: str, test_file: Path, work: Path, epochs: float, seed: int
) -> tuple[float, Path]:
    from training.engine import evaluate_reward_accuracy, train

    data = work / "labels.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in labelled), encoding="utf-8")
    out = work / f"rm-{len(labelled)}-{time.monotonic_ns()}"
    result = train(
        "reward",
        data=data,
        base=base,
        out=out,
        config={
            "num_train_epochs": epochs,
            "learning_rate": 1e-4,
            "max_length": 1024,
            "eval_fraction": 0.0,
            "save_steps": 100_000,
            "logging_steps": 1000,
            "seed": seed,
        },
    )
    held = evaluate_reward_accuracy(reward_model=result.model_dir, data=test_file)
    return float(held["accuracy"]), Path(result.model_dir)


def run_policy(
    policy: str,
    pool: list[dict[str, Any]],
    *,
    labels: int,
    every: int,
    base: str,
    test_file: Path,
    work: Path,
    epochs: float,
    seed: int,
) -> list[tuple[int, float]]:
    rng = random.Random(seed)
    unlabelled = list(range(len(pool)))
    if policy == "random":
        rng.shuffle(unlabelled)
    labelled: list[dict[str, Any]] = []
    curve: list[tuple[int, float]] = []
    model_dir: Path | None = None
    while len(labelled) < labels and unlabelled:
        take = min(every, labels - len(labelled), len(unlabelled))
        if policy == "uncertainty":
            if model_dir is None:
                rng.shuffle(unlabelled)
            else:
                gap = margins(model_dir, [pool[i] for i in unlabelled])
                unlabelled = [i for _, i in sorted(zip(gap, unlabelled, strict=True))]
        batch, unlabelled = unlabelled[:take], unlabelled[take:]
        # One at a time, as an annotator would: the verdict is the real human one.
        for index in batch:
            labelled.append(pool[index])
        accuracy, model_dir = train_and_measure(labelled, base, test_file, work, epochs, seed)
        curve.append((len(labelled), accuracy))
        print(
            f"  {policy:12s} seed {seed}: {len(labelled):5d} labels -> {accuracy:.3f}", flush=True
        )
    return curve


def plot(curves: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return _svg(curves, path.with_suffix(".svg"))
    fig, ax = plt.subplots(figsize=(6, 4))
    for policy, curve in curves.items():
        ax.plot([n for n, _ in curve], [a for _, a in curve], marker="o", label=policy)
    ax.axhline(0.5, color="grey", linestyle=":", linewidth=1)
    ax.set_xlabel("labels")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("Reward-model accuracy vs labels, by selection policy")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def _svg(curves: dict[str, list[tuple[int, float]]], path: Path) -> Path:
    """A plain SVG line chart, for machines without matplotlib."""
    width, height, pad = 600, 360, 50
    xs = [n for c in curves.values() for n, _ in c] or [1]
    ys = [a for c in curves.values() for _, a in c] or [0.5]
    lo, hi = min(0.4, min(ys)), max(0.8, max(ys))
    colours = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]

    def x(n: float) -> float:
        return pad + (width - 2 * pad) * n / max(xs)

    def y(a: float) -> float:
        return height - pad - (height - 2 * pad) * (a - lo) / (hi - lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">',
        '<rect width="100%" height="100%" fill="white"/>',
        f'<line x1="{pad}" y1="{y(0.5):.1f}" x2="{width - pad}" y2="{y(0.5):.1f}" '
        'stroke="grey" stroke-dasharray="3"/>',
        f'<text x="{width / 2}" y="{height - 10}" text-anchor="middle">labels</text>',
        f'<text x="12" y="{pad - 10}">held-out accuracy ({lo:.2f}-{hi:.2f})</text>',
    ]
    for n, (policy, curve) in enumerate(curves.items()):
        colour = colours[n % len(colours)]
        points = " ".join(f"{x(k):.1f},{y(a):.1f}" for k, a in curve)
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>'
        )
        parts.append(f'<text x="{width - pad}" y="{pad + 16 * n}" fill="{colour}">{policy}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def main() -> None:
    args = parse_args()
    if args.smoke:
        args.labels, args.every, args.seeds, args.test, args.epochs = 16, 8, 1, 16, 1.0
    if not SHARED.is_dir():
        print(f"no real data at {SHARED}; nothing to measure")
        return
    from training.engine import build_tiny_model
    from training.engine.runtime import libraries_quiet

    libraries_quiet()
    rows = llamafactory_pairs(SHARED / "llamafactory_dpo_en_demo.json") + oasst_pairs(
        SHARED / "oasst_en_100_tree.jsonl"
    )
    pool, test_rows = split_by_prompt(rows)
    test_rows = random.Random(0).sample(test_rows, min(args.test, len(test_rows)))
    print(
        f"{len(rows)} real pairs: a pool of {len(pool)} to label, {len(test_rows)} held out "
        f"(by prompt); {args.labels} labels per policy, retrain every {args.every}, "
        f"{args.seeds} seed(s); shared, loaded 2-core machine"
    )
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-active-") as tmp:
        work = Path(tmp)
        test_file = work / "test.jsonl"
        test_file.write_text("".join(json.dumps(r) + "\n" for r in test_rows), encoding="utf-8")
        base = args.base or str(build_tiny_model(work / "tiny"))
        mean: dict[str, list[tuple[int, float]]] = {}
        for policy in POLICIES:
            runs = [
                run_policy(
                    policy,
                    pool,
                    labels=args.labels,
                    every=args.every,
                    base=base,
                    test_file=test_file,
                    work=work,
                    epochs=args.epochs,
                    seed=seed,
                )
                for seed in range(args.seeds)
            ]
            mean[policy] = [
                (runs[0][k][0], sum(run[k][1] for run in runs) / len(runs))
                for k in range(min(len(run) for run in runs))
            ]
        out_dir = Path(args.out) if args.out else work
        out_dir.mkdir(parents=True, exist_ok=True)
        image = plot(mean, out_dir / "active.png")
        print()
        print("labels  " + "  ".join(f"{p:>11s}" for p in POLICIES))
        for k, (n, _) in enumerate(mean["random"]):
            print(f"{n:6d}  " + "  ".join(f"{mean[p][k][1]:11.3f}" for p in POLICIES))
        target = mean["random"][-1][1]
        reached = next((n for n, a in mean["uncertainty"] if a >= target), None)
        if reached is None:
            print(
                f"\nuncertainty never reached random's final accuracy {target:.3f} within "
                f"{args.labels} labels: on this data and model it does not pay."
            )
        else:
            print(
                f"\nuncertainty reached random's final accuracy {target:.3f} after {reached} "
                f"labels (random: {mean['random'][-1][0]})."
            )
        print(f"plot: {image}" + ("" if args.out else " (temporary; pass --out to keep it)"))
        print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
