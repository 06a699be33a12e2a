"""Does weighting by annotator reliability pay? Two careful annotators and one who answers
at random label the same simulated pairs; reward models are trained on the export of those
labels with and without the reliability columns, and tested on held-out pairs' true order.

The task: each item asks for the better of two answers, each a string of words from a fixed
vocabulary; a hidden value per word (a third good, a third bad, a third neutral) makes an
answer's true score, and the higher-scored answer is the better one. The careful annotators
pick it with probability ``--careful`` (0.9), the random one with 0.5. The labels go in
through the native import's ``judgements`` field; the training files come out of the real
export (``feedback.export.export_rows``) with each variant's parameters:

- ``unweighted``: one pair per judgement (the plain export);
- ``weight=reliability``: the same pairs with the annotator's Dawid-Skene reliability as
  each pair's loss weight (the engine's reward method reads ``weight``);
- ``min_reliability``: the pairs of annotators below the midpoint between the random one and
  the less reliable careful one are left out;
- ``weighted-consensus``: one pair per item, the reliability-weighted Copeland consensus,
  weighted by its support.

Each variant trains the tiny local model through the engine (``training.engine.train``) on
the same items, with the same seed; held-out accuracy (with its Wilson 95% interval) is on
fresh items whose pairs are in their true order.

    .venv/bin/python bench/reliability.py [--items 600] [--test-items 400] [--epochs 2]

It makes its own database ``BENCH_DB`` (default ``feedback_bench_reliability``) and drops it.
"""

import argparse
import io
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._db import create_database, drop_database

DB = os.environ.get("BENCH_DB", "feedback_bench_reliability")
VOCABULARY = 30
ANSWER_WORDS = 6

os.environ["DATABASE_URL"] = create_database(DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402

from feedback.export import export_params_parse, export_rows  # noqa: E402
from feedback.models import Project  # noqa: E402
from feedback.quality.agreement import project_agreement  # noqa: E402
from feedback.services.imports import items_import  # noqa: E402
from training.engine import build_tiny_model, evaluate_reward_accuracy, train  # noqa: E402


class Task:
    """Answers made of words; the better answer has the higher sum of hidden word values."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.words = [f"w{n}" for n in range(VOCABULARY)]
        self.value = {w: self.rng.choice((-1, 0, 1)) for w in self.words}

    def pair(self) -> tuple[str, str]:
        """Two answers, better first (never of equal score)."""
        while True:
            a, b = (
                " ".join(self.rng.choice(self.words) for _ in range(ANSWER_WORDS)) for _ in range(2)
            )
            sa, sb = (sum(self.value[w] for w in x.split()) for x in (a, b))
            if sa != sb:
                return (a, b) if sa > sb else (b, a)


def _labels(task: Task, items: int, careful: float) -> list[dict[str, Any]]:
    rows = []
    for n in range(items):
        better, worse = task.pair()
        responses = [better, worse]
        task.rng.shuffle(responses)
        best = responses.index(better)
        judgements = []
        for name, p in (("careful1", careful), ("careful2", careful), ("random", 0.5)):
            pick = best if task.rng.random() < p else 1 - best
            judgements.append({"annotator": name, "ranking": [[pick], [1 - pick]]})
        rows.append(
            {
                "external_id": f"sim-{n}",
                "prompt": "Which answer is better?",
                "responses": responses,
                "judgements": judgements,
            }
        )
    return rows


def _write(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--items", type=int, default=600)
    parser.add_argument("--test-items", type=int, default=400)
    parser.add_argument("--epochs", type=float, default=2.0)
    parser.add_argument("--careful", type=float, default=0.9)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    from training.engine.runtime import libraries_quiet

    libraries_quiet()
    call_command("migrate", verbosity=0)
    task = Task(args.seed)
    project = Project.objects.create(name="Reliability", slug="reliability")
    data = b"".join(json.dumps(r).encode() + b"\n" for r in _labels(task, args.items, args.careful))
    items_import(project=project, source=io.BytesIO(data), format="native", source_name="sim")
    report = project_agreement(project=project, samples=0)
    scores = {a.username: a.reliability or 0.0 for a in report.annotators}
    print(
        f"{args.items} simulated items x 3 annotators (careful p={args.careful}, random p=0.5); "
        f"alpha {report.alpha.value:.3f}"
    )
    for name, value in sorted(scores.items(), key=lambda kv: -kv[1]):
        print(f"  {name}: Dawid-Skene reliability {value:.3f}")
    lowest = min(scores, key=lambda name: scores[name])
    print(f"  lowest reliability: {lowest}")
    careful_low = min(v for k, v in scores.items() if k != "import:sim/random")
    cut = (scores["import:sim/random"] + careful_low) / 2
    variants = {
        "unweighted": {},
        "weight=reliability": {"weight": "reliability"},
        f"min_reliability={cut:.2f}": {"min_reliability": f"{cut:.4f}"},
        "weighted-consensus": {"aggregate": "weighted-consensus", "weight": "reliability"},
    }
    test_rows = []
    for _ in range(args.test_items):
        better, worse = task.pair()
        test_rows.append({"prompt": "User: Which answer is better?\n\nAssistant:",
                          "chosen": f" {better}", "rejected": f" {worse}"})  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-reliability-") as tmp:
        work = Path(tmp)
        base = build_tiny_model(work / "tiny")
        test_file = _write(work / "test.jsonl", test_rows)
        for number, (name, query) in enumerate(variants.items()):
            rows = list(export_rows(project=project, params=export_params_parse(query)))
            start = time.perf_counter()
            result = train(
                "reward",
                data=_write(work / f"train-{number}.jsonl", rows),
                base=str(base),
                out=work / f"run-{number}",
                config={
                    "num_train_epochs": args.epochs,
                    "learning_rate": 1e-3,
                    "per_device_train_batch_size": 16,
                    "max_length": 128,
                    "eval_fraction": 0.0,
                    "save_steps": 100_000,
                    "logging_steps": 1000,
                    "seed": args.seed,
                },
            )
            seconds = time.perf_counter() - start
            held = evaluate_reward_accuracy(reward_model=result.model_dir, data=test_file)
            print(
                f"  {name:>24}: {len(rows)} train pairs, held-out accuracy "
                f"{held['accuracy']:.3f} [{held['accuracy_low']:.3f}, "
                f"{held['accuracy_high']:.3f}] (n={int(held['n'])}), {seconds:.0f} s"
            )


if __name__ == "__main__":
    try:
        main()
    finally:
        django.db.connections.close_all()
        drop_database(DB)
