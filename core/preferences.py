"""The one definition of a valid preference row, shared by the import, the export and the engine.

Pure Python (no Django, no torch), so the training engine can use it too. A completion may be
empty: saying nothing is a real answer in real data (HH-RLHF has such replies) and TRL trains on
it. What carries no preference is a row whose two completions are identical, or a row without a
prompt where the format needs one.
"""

from __future__ import annotations

from typing import Any

IDENTICAL = "chosen and rejected are identical; no preference to learn from"
NO_PROMPT = "is empty; a preference needs the prompt it answers"


def _text(value: Any) -> str:
    """The text of a completion or prompt: a string, or the contents of a message list."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "\n".join(str(m.get("content", "")) for m in value if isinstance(m, dict))
    return str(value)


def preference_problem(
    *, prompt: Any, chosen: Any, rejected: Any, prompt_required: bool = False
) -> tuple[str, str] | None:
    """(field, reason) when the row carries no usable preference, else None.

    Types are each format's business (its parser checks them); this is the rule on content
    that every stage applies the same way, so nothing the import accepts is refused later.
    """
    if chosen == rejected:
        return "chosen", IDENTICAL
    if prompt_required and not _text(prompt).strip():
        return "prompt", NO_PROMPT
    return None
