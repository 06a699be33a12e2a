"""What every parser shares: the parsed shape of an item, row errors, and small checks.

Parsers are pure Python (no ORM): each turns one decoded JSON row into zero or more
``ParsedItem``\\ s, or raises ``RowError`` (the row is wrong: the whole import is refused)
or ``RowSkipped`` (a known quirk of real data that carries no preference: the row is
left out and reported as a warning).
"""

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from core.preferences import preference_problem

ROLES = ("system", "user", "assistant")
MAX_EXTERNAL_ID = 255


class RowError(Exception):
    """The row cannot be imported; ``field`` names the offending key (dotted path)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class RowSkipped(Exception):
    """The row is well formed but holds no usable preference (it is left out)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass
class ParsedResponse:
    content: str
    source: str = "imported"  # imported | model (values of Response.Source)
    model_name: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class ParsedJudgement:
    """One named annotator's judgement of a row's responses (indexes, not ids)."""

    annotator: str
    ranking: list[list[int]] | None
    both_bad: bool = False
    ratings: dict[int, int] = field(default_factory=dict)
    rationale: str = ""


@dataclass
class ParsedGold:
    """The expected answer of a gold item (indexes into the row's responses)."""

    ranking: list[list[int]]
    both_bad: bool = False


@dataclass
class ParsedItem:
    """One item ready to be written. ``ranking`` holds indexes into ``responses``."""

    messages: list[dict[str, str]]
    responses: list[ParsedResponse]
    ranking: list[list[int]] | None = None
    external_id: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # True when the id comes from the data itself (an OASST message id), not from an id
    # the user wrote: a repeat then means "the same item again" rather than a mistake.
    external_id_derived: bool = False
    # Several annotators' judgements (the native ``judgements`` field) and the expected
    # answer of a gold item (``gold``).
    judgements: list[ParsedJudgement] = field(default_factory=list)
    gold: ParsedGold | None = None

    def content_id(self) -> str:
        """A stable id derived from the content, for rows that carry none."""
        canonical = json.dumps(
            {
                "messages": self.messages,
                "responses": [[r.content, r.model_name] for r in self.responses],
                "ranking": self.ranking,
            },
            ensure_ascii=False,
            sort_keys=True,
            separators=(",", ":"),
        )
        return "sha256:" + hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:40]


Parser = Callable[[Any], list[ParsedItem]]


def require_object(row: Any) -> Mapping[str, Any]:
    if not isinstance(row, Mapping):
        raise RowError(f"must be a JSON object, not {json_type(row)}")
    return row


def require_key(row: Mapping[str, Any], key: str) -> Any:
    if key not in row:
        raise RowError("is missing", field=key)
    return row[key]


def require_str(value: Any, field_name: str) -> str:
    if not isinstance(value, str):
        raise RowError(f"must be a string, not {json_type(value)}", field=field_name)
    return value


def external_id_get(row: Mapping[str, Any], *keys: str) -> str | None:
    """The row's own id under the first of ``keys`` present (a string or an integer)."""
    for key in keys:
        value = row.get(key)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise RowError("must be a string or an integer", field=key)
        text = str(value).strip()
        if not text:
            raise RowError("must not be empty", field=key)
        if len(text) > MAX_EXTERNAL_ID:
            raise RowError(f"must be at most {MAX_EXTERNAL_ID} characters", field=key)
        return text
    return None


def messages_parse(
    value: Any, field_name: str, *, allow_empty: bool = False
) -> list[dict[str, str]]:
    """A list of ``{"role", "content"}`` chat messages, roles system/user/assistant."""
    if not isinstance(value, list):
        raise RowError(f"must be a list of messages, not {json_type(value)}", field=field_name)
    if not value and not allow_empty:
        raise RowError("must hold at least one message", field=field_name)
    messages = []
    for index, message in enumerate(value):
        where = f"{field_name}[{index}]"
        if not isinstance(message, Mapping):
            raise RowError('must be an object {"role", "content"}', field=where)
        role = message.get("role")
        if role not in ROLES:
            raise RowError(f"role must be one of {', '.join(ROLES)}, not {role!r}", field=where)
        content = require_str(message.get("content"), f"{where}.content")
        messages.append({"role": role, "content": content})
    return messages


def json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def preference_pair(
    *,
    messages: list[dict[str, str]],
    chosen: str,
    rejected: str,
    external_id: str | None = None,
    metadata: dict[str, Any] | None = None,
    chosen_field: str = "chosen",
) -> ParsedItem:
    """An item with two responses, ``chosen`` first, and the judgement that prefers it.

    An empty text is a valid answer. Identical texts carry no preference
    (``core.preferences``, the rule the export and the engine apply too): the row is skipped
    with a warning naming it, not imported.
    """
    problem = preference_problem(prompt=messages, chosen=chosen, rejected=rejected)
    if problem is not None:
        raise RowSkipped(problem[1], field=chosen_field if problem[0] == "chosen" else problem[0])
    return ParsedItem(
        messages=messages,
        responses=[ParsedResponse(content=chosen), ParsedResponse(content=rejected)],
        ranking=[[0], [1]],
        external_id=external_id,
        metadata=metadata or {},
    )
