"""Open-Assistant message trees, one tree a row: ``{"message_tree_id", "tree_state",
"prompt": Node}`` with Node ``{"message_id", "text", "role": "prompter"|"assistant",
"deleted"?, "synthetic"?, "model_name"?, "rank"?, "lang"?, "replies": [Node, ...]}``.

Every prompter message with two or more ranked, non-deleted assistant replies becomes an
item: its conversation path from the root (prompter -> ``user``, assistant ->
``assistant``) is the prompt, those replies are the responses in the tree's order, and
their ``rank`` (0 = best) is an imported judgement; equal ranks are a tie. Replies
without a rank cannot be placed in the judgement and are left out of the item. A deleted
message is skipped with everything below it. Replies marked ``synthetic`` are recorded as
written by their ``model_name``. The item's id is ``oasst:<message_id>`` of the prompter
message, so re-imports and imports of overlapping dumps do not duplicate it.
"""

from collections.abc import Mapping
from typing import Any

from feedback.importers.base import (
    ParsedItem,
    ParsedResponse,
    RowError,
    json_type,
    require_key,
    require_object,
)

ROLE = {"prompter": "user", "assistant": "assistant"}


def parse(row: Any) -> list[ParsedItem]:
    row = require_object(row)
    root = require_key(row, "prompt")
    items: list[ParsedItem] = []
    tree_id = row.get("message_tree_id")
    _walk(root, "prompt", [], items, tree_id)
    return items


def _walk(
    node: Any, where: str, path: list[dict[str, str]], items: list[ParsedItem], tree_id: Any
) -> None:
    node = _node_check(node, where)
    if node.get("deleted"):
        return
    path = [*path, {"role": ROLE[node["role"]], "content": node["text"]}]
    replies = node.get("replies") or []
    if not isinstance(replies, list):
        raise RowError(f"must be a list, not {json_type(replies)}", field=f"{where}.replies")
    checked = [_node_check(reply, f"{where}.replies[{i}]") for i, reply in enumerate(replies)]
    if node["role"] == "prompter":
        ranked = [
            (i, reply)
            for i, reply in enumerate(checked)
            if reply["role"] == "assistant"
            and not reply.get("deleted")
            and reply.get("rank") is not None
        ]
        if len(ranked) >= 2:
            items.append(_item(node, path, ranked, where, tree_id))
    for i, reply in enumerate(checked):
        _walk(reply, f"{where}.replies[{i}]", path, items, tree_id)


def _node_check(node: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(node, Mapping):
        raise RowError(f"must be a message object, not {json_type(node)}", field=where)
    if node.get("role") not in ROLE:
        raise RowError(
            f"must be 'prompter' or 'assistant', not {node.get('role')!r}", field=f"{where}.role"
        )
    if not isinstance(node.get("text"), str):
        raise RowError("must be a string", field=f"{where}.text")
    message_id = node.get("message_id")
    if not isinstance(message_id, str) or not message_id:
        raise RowError("must be a non-empty string", field=f"{where}.message_id")
    rank = node.get("rank")
    if rank is not None and (isinstance(rank, bool) or not isinstance(rank, int)):
        raise RowError("must be an integer or null", field=f"{where}.rank")
    return node


def _item(
    node: Mapping[str, Any],
    path: list[dict[str, str]],
    ranked: list[tuple[int, Mapping[str, Any]]],
    where: str,
    tree_id: Any,
) -> ParsedItem:
    responses = []
    for _, reply in ranked:
        synthetic = bool(reply.get("synthetic"))
        model_name = str(reply.get("model_name") or "") if synthetic else ""
        responses.append(
            ParsedResponse(
                content=reply["text"],
                source="model" if synthetic else "imported",
                model_name=model_name[:255],
                metadata={"oasst_message_id": reply["message_id"], "rank": reply["rank"]},
            )
        )
    by_rank: dict[int, list[int]] = {}
    for position, (_, reply) in enumerate(ranked):
        by_rank.setdefault(reply["rank"], []).append(position)
    metadata: dict[str, Any] = {"oasst_message_id": node["message_id"]}
    if tree_id is not None:
        metadata["oasst_tree_id"] = tree_id
    if node.get("lang"):
        metadata["lang"] = node["lang"]
    return ParsedItem(
        messages=path,
        responses=responses,
        ranking=[by_rank[rank] for rank in sorted(by_rank)],
        external_id=f"oasst:{node['message_id']}"[:255],
        external_id_derived=True,
        metadata=metadata,
    )
