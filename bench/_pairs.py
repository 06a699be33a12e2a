"""Synthetic preference data written for the benchmarks (no outside data)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

TOPICS = ["the sky", "an egg", "a bicycle", "the moon", "a garden", "the sea", "a train", "bread"]
GOOD = "{t} is explained step by step, with a clear example and a short summary at the end."
BAD = "{t}? No idea, look it up."


def pairs_write(path: Path, n: int, *, seed: int = 0) -> Path:
    rng = random.Random(seed)
    lines = []
    for i in range(n):
        topic = rng.choice(TOPICS)
        question = f"Question {i}: please tell me about {topic}."
        lines.append(
            json.dumps(
                {
                    "prompt": [{"role": "user", "content": question}],
                    "chosen": [{"role": "assistant", "content": GOOD.format(t=topic.capitalize())}],
                    "rejected": [
                        {"role": "assistant", "content": BAD.format(t=topic.capitalize())}
                    ],
                }
            )
        )
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def ranked_rows(items: int, rng: random.Random) -> list[dict[str, Any]]:
    """Native import rows of ``items`` prompts with 4 responses and 3 annotators' rankings
    each: an annotator copies the item's true order 70% of the time (else ranks at random)
    and ties a response with the one above it 20% of the time."""
    rows: list[dict[str, Any]] = []
    for n in range(items):
        truth = list(range(4))
        rng.shuffle(truth)
        judgements = []
        for k in range(3):
            order = truth[:] if rng.random() < 0.7 else rng.sample(truth, 4)
            groups: list[list[int]] = []
            for r in order:
                if groups and rng.random() < 0.2:
                    groups[-1].append(r)
                else:
                    groups.append([r])
            judgements.append({"annotator": f"ann{k}", "ranking": groups})
        rows.append(
            {
                "external_id": f"s{n}",
                "prompt": f"Question {n}?",
                "responses": [f"answer {r} to question {n}" for r in range(4)],
                "judgements": judgements,
            }
        )
    return rows
