"""The native format: JSON Lines (or a JSON array), one item a row::

    {"external_id": "q-17",                      # optional; else derived from the content
     "prompt": "Explain recursion."              # a string (one user message), or
     "messages": [{"role": "user", "content": "..."}, ...],   # the conversation so far
     "responses": ["text", {"content": "text", "model": "name", "metadata": {...}}, ...],
     "ranking": [[0], [2, 1]],                   # optional: indexes into responses, best
                                                 # first; a group of several is a tie
     "judgements": [{"annotator": "ann1", "ranking": [[0], [1]]}, ...],  # optional:
                                                 # several annotators (importers.judgements)
     "gold": [[0], [1]],                         # optional: a gold item's expected answer
     "metadata": {...}}                          # optional, kept on the item

Exactly one of ``prompt`` and ``messages``; ``responses`` either empty (a prompt only: a
generation job fills it with the policy's candidates, and only then is it handed to
annotators) or at least two. A response given as an object with ``model`` is recorded as
written by that model. A row with a ranking
becomes an item plus an imported judgement; a row without one is an item waiting to be
judged. The ranking must name every response exactly once (the rule every door uses).
"""

from collections.abc import Mapping
from typing import Any

from core.errors import ValidationError
from feedback.importers.base import (
    ParsedItem,
    ParsedResponse,
    RowError,
    external_id_get,
    json_type,
    messages_parse,
    require_object,
    require_str,
)
from feedback.importers.judgements import gold_parse, judgements_parse
from feedback.services.judgements import ranking_validate


def parse(row: Any) -> list[ParsedItem]:
    row = require_object(row)
    has_prompt, has_messages = "prompt" in row, "messages" in row
    if has_prompt == has_messages:
        raise RowError(
            "give exactly one of 'prompt' (a string) and 'messages' (a list)",
            field="prompt" if has_prompt else "messages",
        )
    if has_prompt:
        messages = [{"role": "user", "content": require_str(row["prompt"], "prompt")}]
    else:
        messages = messages_parse(row["messages"], "messages")

    responses = _responses(row)
    ranking = None
    if row.get("ranking") is not None:
        try:
            ranking = ranking_validate(ranking=row["ranking"], response_ids=range(len(responses)))
        except ValidationError as exc:
            reasons = exc.details.get("ranking", [exc.message]) if exc.details else [exc.message]
            message = f"{reasons[0]} (indexes into responses, from 0)"
            raise RowError(message, field="ranking") from exc

    metadata = row.get("metadata", {})
    if not isinstance(metadata, Mapping):
        raise RowError(f"must be an object, not {json_type(metadata)}", field="metadata")
    return [
        ParsedItem(
            messages=messages,
            responses=responses,
            ranking=ranking,
            external_id=external_id_get(row, "external_id"),
            metadata=dict(metadata),
            judgements=judgements_parse(row.get("judgements"), responses=len(responses)),
            gold=gold_parse(row.get("gold"), responses=len(responses)),
        )
    ]


def _responses(row: Mapping[str, Any]) -> list[ParsedResponse]:
    if "responses" not in row:
        raise RowError(
            "is missing (give [] for a prompt the policy model is to answer)", field="responses"
        )
    value = row["responses"]
    if not isinstance(value, list):
        raise RowError(f"must be a list, not {json_type(value)}", field="responses")
    if len(value) == 1:
        raise RowError(
            "must hold at least two responses, not 1 (one answer cannot be ranked; give [] "
            "for a prompt the policy model is to answer)",
            field="responses",
        )
    responses = []
    for index, entry in enumerate(value):
        where = f"responses[{index}]"
        if isinstance(entry, str):
            responses.append(ParsedResponse(content=entry))
            continue
        if not isinstance(entry, Mapping):
            raise RowError('must be a string or an object {"content", "model"?}', field=where)
        content = require_str(entry.get("content"), f"{where}.content")
        model = entry.get("model")
        if model is not None:
            model = require_str(model, f"{where}.model").strip()
            if len(model) > 255:
                raise RowError("must be at most 255 characters", field=f"{where}.model")
        metadata = entry.get("metadata", {})
        if not isinstance(metadata, Mapping):
            raise RowError("must be an object", field=f"{where}.metadata")
        responses.append(
            ParsedResponse(
                content=content,
                source="model" if model else "imported",
                model_name=model or "",
                metadata=dict(metadata),
            )
        )
    return responses
