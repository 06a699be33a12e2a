"""ShareGPT-style preference rows, as LLaMA-Factory's DPO data has them::

    {"conversations": [{"from": "system"|"human"|"gpt", "value": str}, ...],
     "chosen": {"from": "gpt", "value": str}, "rejected": {"from": "gpt", "value": str}}

``conversations`` is the prompt (system -> ``system``, human -> ``user``, gpt ->
``assistant``); ``chosen`` and ``rejected`` (an object as above, or a plain string) are
the two responses, chosen first, with an imported judgement preferring it. Other roles
(tool calls, observations) are refused. Optional ``id`` (or ``external_id``) names the
item; otherwise a hash of the content does. Identical chosen and rejected: the row is
skipped with a warning.
"""

from collections.abc import Mapping
from typing import Any

from feedback.importers.base import (
    ParsedItem,
    RowError,
    external_id_get,
    json_type,
    preference_pair,
    require_key,
    require_object,
    require_str,
)

ROLE = {"system": "system", "human": "user", "gpt": "assistant"}


def parse(row: Any) -> list[ParsedItem]:
    row = require_object(row)
    conversations = require_key(row, "conversations")
    if not isinstance(conversations, list) or not conversations:
        raise RowError("must be a non-empty list of turns", field="conversations")
    messages = []
    for index, turn in enumerate(conversations):
        where = f"conversations[{index}]"
        if not isinstance(turn, Mapping):
            raise RowError('must be an object {"from", "value"}', field=where)
        role = ROLE.get(turn.get("from"))  # type: ignore[arg-type]
        if role is None:
            raise RowError(
                f"'from' must be one of {', '.join(ROLE)}, not {turn.get('from')!r}",
                field=f"{where}.from",
            )
        messages.append({"role": role, "content": require_str(turn.get("value"), f"{where}.value")})
    return [
        preference_pair(
            messages=messages,
            chosen=_reply(require_key(row, "chosen"), "chosen"),
            rejected=_reply(require_key(row, "rejected"), "rejected"),
            external_id=external_id_get(row, "external_id", "id"),
        )
    ]


def _reply(value: Any, field: str) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        message = f"must be an object {{'from', 'value'}}, not {json_type(value)}"
        raise RowError(message, field=field)
    if value.get("from", "gpt") != "gpt":
        raise RowError(f"'from' must be 'gpt', not {value.get('from')!r}", field=f"{field}.from")
    return require_str(value.get("value"), f"{field}.value")
