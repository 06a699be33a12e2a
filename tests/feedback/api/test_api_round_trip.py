"""Round trip through the API: importing a real preference file and exporting it again
gives back the same pairs, text for text (files from ../shared/data, skipped without it)."""

import json
from collections import Counter
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from tests.feedback.api.conftest import World, client_for

pytestmark = pytest.mark.django_db

Pair = tuple[tuple[tuple[str, str], ...], str, str]


def upload(world: World, path: Path, fmt: str) -> dict[str, Any]:
    answer = client_for(world.admin_a).post(
        "/api/projects/alpha/items/import/",
        {"file": SimpleUploadedFile(path.name, path.read_bytes()), "format": fmt},
        format="multipart",
    )
    assert answer.status_code == 201, answer.json()
    return dict(answer.json())


def exported_pairs(world: World, **query: str) -> Counter[Pair]:
    answer: Any = client_for(world.exporter_a).get(
        "/api/projects/alpha/export/",
        {"format": "trl-conversational", "source": "imported", **query},
    )
    pairs: Counter[Pair] = Counter()
    for line in b"".join(answer.streaming_content).splitlines():
        row = orjson.loads(line)
        prompt = tuple((m["role"], m["content"]) for m in row["prompt"])
        pairs[(prompt, row["chosen"][0]["content"], row["rejected"][0]["content"])] += 1
    return pairs


def test_sharegpt_file_comes_back_pair_for_pair(world: World, shared_data: Path) -> None:
    path = shared_data / "llamafactory_dpo_en_demo.json"
    roles = {"system": "system", "human": "user", "gpt": "assistant"}
    expected: set[Pair] = set()
    for row in json.loads(path.read_text(encoding="utf-8")):
        if row["chosen"]["value"] == row["rejected"]["value"]:
            continue  # the importer skips these with a warning
        prompt = tuple((roles[t["from"]], t["value"]) for t in row["conversations"])
        expected.add((prompt, row["chosen"]["value"], row["rejected"]["value"]))

    result = upload(world, path, "sharegpt")
    got = exported_pairs(world)

    assert result["judgements_created"] == len(expected) > 250
    assert set(got) == expected
    assert sum(got.values()) == len(expected)


def oasst_pairs(node: dict[str, Any], path: tuple[tuple[str, str], ...]) -> list[Pair]:
    """The preference pairs an Open-Assistant tree holds, straight from the file: for each
    prompter message, every two ranked live replies with different ranks."""
    if node.get("deleted"):
        return []
    role = "user" if node["role"] == "prompter" else "assistant"
    here = (*path, (role, node["text"]))
    pairs: list[Pair] = []
    replies = [r for r in node.get("replies", []) if not r.get("deleted")]
    ranked = [r for r in replies if r.get("rank") is not None]
    if role == "user" and len(ranked) >= 2:
        for a in ranked:
            for b in ranked:
                if a["rank"] < b["rank"]:
                    pairs.append((here, a["text"], b["text"]))
    for reply in replies:
        pairs += oasst_pairs(reply, here)
    return pairs


def test_oasst_rankings_with_ties_come_back_as_the_same_pairs(
    world: World, shared_data: Path
) -> None:
    path = shared_data / "oasst_en_100_tree.jsonl"
    expected: Counter[Pair] = Counter()
    for line in path.read_text(encoding="utf-8").splitlines():
        expected.update(oasst_pairs(json.loads(line)["prompt"], ()))

    upload(world, path, "oasst")
    got = exported_pairs(world, pairs="all")

    assert sum(expected.values()) > 300
    assert got == expected
