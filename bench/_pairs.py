"""Synthetic preference pairs written for the benchmarks (no outside data)."""

from __future__ import annotations

import json
import random
from pathlib import Path

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
