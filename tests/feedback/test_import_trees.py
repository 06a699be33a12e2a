"""The conversation-tree formats (OASST, ShareGPT), from the real files, checked against
the source: one item per ranked sibling group, text unchanged, order and ties right."""

import json
from pathlib import Path
from typing import Any

import pytest

from feedback.models import Item, Judgement, Project, Response
from feedback.services.imports import items_import
from feedback.services.projects import project_create
from tests.feedback.importing import jsonl_write, stored

pytestmark = pytest.mark.django_db


@pytest.fixture
def project() -> Project:
    return project_create(name="Import", slug="import")


# --- OASST (real file) ---------------------------------------------------------------------


def _oasst_index(path: Path) -> tuple[dict[str, dict[str, Any]], dict[str, str | None]]:
    nodes: dict[str, dict[str, Any]] = {}
    parent: dict[str, str | None] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        stack: list[tuple[dict[str, Any], str | None]] = [(json.loads(line)["prompt"], None)]
        while stack:
            node, up = stack.pop()
            nodes[node["message_id"]] = node
            parent[node["message_id"]] = up
            stack.extend((reply, node["message_id"]) for reply in node["replies"])
    return nodes, parent


def test_oasst_tree_gives_one_item_per_ranked_sibling_group(
    project: Project, shared_data: Path
) -> None:
    path = shared_data / "oasst_en_100_tree.jsonl"
    result = items_import(project=project, source=path, format="oasst")

    nodes, parent = _oasst_index(path)
    # SOURCES.md: 212 sibling groups with two or more ranked replies.
    assert result.items_created == 212 == Item.objects.filter(project=project).count()
    assert result.judgements_created == 212
    for item in Item.objects.filter(project=project).prefetch_related("responses"):
        prompter = item.metadata["oasst_message_id"]
        assert item.external_id == f"oasst:{prompter}"
        path_ids: list[str] = []
        cursor: str | None = prompter
        while cursor is not None:
            path_ids.insert(0, cursor)
            cursor = parent[cursor]
        role = {"prompter": "user", "assistant": "assistant"}
        assert item.messages == [
            {"role": role[nodes[m]["role"]], "content": nodes[m]["text"]} for m in path_ids
        ]
        ranked = [
            r
            for r in nodes[prompter]["replies"]
            if r.get("rank") is not None and not r.get("deleted")
        ]
        data = stored(item)
        assert data["responses"] == [r["text"] for r in ranked]
        expected_ranking = [
            [i for i, r in enumerate(ranked) if r["rank"] == rank]
            for rank in sorted({r["rank"] for r in ranked})
        ]
        assert data["ranking"] == expected_ranking
        for response, reply in zip(item.responses.order_by("position"), ranked, strict=True):
            if reply.get("synthetic"):
                assert (response.source, response.model_name) == ("model", reply["model_name"])
            else:
                assert (response.source, response.model_name) == ("imported", "")


def test_oasst_synthetic_replies_are_recorded_as_model_output(
    project: Project, shared_data: Path
) -> None:
    items_import(project=project, source=shared_data / "oasst_en_100_tree.jsonl", format="oasst")
    synthetic = Response.objects.filter(item__project=project, source="model")
    assert synthetic.exists()
    assert set(synthetic.values_list("model_name", flat=True)) == {"chip20b"}


def test_oasst_ties_deleted_and_unranked_replies(project: Project, tmp_path: Path) -> None:
    def node(mid: str, role: str, text: str, **extra: Any) -> dict[str, Any]:
        return {"message_id": mid, "role": role, "text": text, "replies": [], **extra}

    root = node("p1", "prompter", "Name a colour.")
    root["replies"] = [
        node("a1", "assistant", "Blue.", rank=1),
        node("a2", "assistant", "Red.", rank=0),
        node("a3", "assistant", "Green.", rank=1),
        node("a4", "assistant", "Gone.", rank=0, deleted=True),
        node("a5", "assistant", "Unranked."),
    ]
    deleted_branch = node("p2", "prompter", "Deleted follow-up", deleted=True)
    deleted_branch["replies"] = [
        node("b1", "assistant", "x", rank=0),
        node("b2", "assistant", "y", rank=1),
    ]
    root["replies"][1]["replies"] = [deleted_branch]
    jsonl_write(tmp_path / "t.jsonl", [{"message_tree_id": "p1", "prompt": root}])

    result = items_import(project=project, source=tmp_path / "t.jsonl", format="oasst")

    assert result.items_created == 1
    data = stored(Item.objects.get(project=project))
    assert data == {
        "messages": [{"role": "user", "content": "Name a colour."}],
        "responses": ["Blue.", "Red.", "Green."],
        "ranking": [[1], [0, 2]],
    }


# --- ShareGPT (real file) ------------------------------------------------------------------


def test_sharegpt_rows_match_the_source(project: Project, shared_data: Path) -> None:
    path = shared_data / "llamafactory_dpo_en_demo.json"
    rows = json.loads(path.read_text(encoding="utf-8"))
    result = items_import(project=project, source=path, format="sharegpt")

    role = {"system": "system", "human": "user", "gpt": "assistant"}
    unique = {json.dumps(row, sort_keys=True) for row in rows}
    assert result.rows_read == 300
    assert result.items_created == len(unique)  # exact repeats are imported once
    assert result.rows_skipped == 300 - len(unique)
    assert result.judgements_created == len(unique)
    items = Item.objects.filter(project=project).prefetch_related("responses")
    for item in items:
        row = rows[item.metadata["import"]["row"] - 1]
        assert stored(item) == {
            "messages": [
                {"role": role[turn["from"]], "content": turn["value"]}
                for turn in row["conversations"]
            ],
            "responses": [row["chosen"]["value"], row["rejected"]["value"]],
            "ranking": [[0], [1]],
        }
    judgement = Judgement.objects.filter(item__project=project).first()
    assert judgement is not None
    assert judgement.source == "imported"
    assert judgement.annotator.username == "import:sharegpt"
