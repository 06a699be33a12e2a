"""TRL preference rows (the format TRL's RewardTrainer and DPOTrainer read).

- Explicit prompt, standard: ``{"prompt": str, "chosen": str, "rejected": str}``; the prompt
  becomes one user message.
- Explicit prompt, conversational: ``prompt`` a list of ``{"role", "content"}`` messages,
  ``chosen`` and ``rejected`` each a list of exactly one assistant message.
- Implicit prompt: ``chosen`` and ``rejected`` only, each the whole text or conversation.
  The prompt is their shared prefix, cut as ``trl.data_utils.extract_prompt`` cuts it:
  whole messages for conversations; for strings, characters, with the space before the
  first difference left on the completions (TRL's convention that completions start with
  a space).

- Prompt only (TRL's prompt-only type, what its online trainers read): ``{"prompt"}``
  alone, a string or a list of messages. The row becomes an item with no responses yet:
  a generation job fills it with the policy's candidates, and only then is it handed to
  annotators.

Each preference row becomes an item with two responses (chosen first) and an imported
judgement preferring ``chosen``. Optional ``id`` (or ``external_id``) names the item; other keys
(``margin``, ...) are kept in the item's metadata under ``"trl"``. Identical chosen and
rejected: the row is skipped with a warning.
"""

from typing import Any

from core.preferences import IDENTICAL
from feedback.importers.base import (
    ParsedItem,
    RowError,
    RowSkipped,
    external_id_get,
    json_type,
    messages_parse,
    preference_pair,
    require_key,
    require_object,
)

KNOWN = {"prompt", "chosen", "rejected", "id", "external_id"}


def parse(row: Any) -> list[ParsedItem]:
    row = require_object(row)
    if "prompt" in row and "chosen" not in row and "rejected" not in row:
        return [_prompt_only(row)]
    chosen = require_key(row, "chosen")
    rejected = require_key(row, "rejected")
    extra = {k: v for k, v in row.items() if k not in KNOWN}
    metadata = {"trl": extra} if extra else {}
    external_id = external_id_get(row, "external_id", "id")

    if "prompt" in row:
        messages, chosen_text, rejected_text = _explicit(row["prompt"], chosen, rejected)
    else:
        messages, chosen_text, rejected_text = _implicit(chosen, rejected)
    return [
        preference_pair(
            messages=messages,
            chosen=chosen_text,
            rejected=rejected_text,
            external_id=external_id,
            metadata=metadata,
        )
    ]


def _prompt_only(row: dict[str, Any]) -> ParsedItem:
    prompt = row["prompt"]
    if isinstance(prompt, str):
        messages = [{"role": "user", "content": prompt}]
    elif isinstance(prompt, list):
        messages = messages_parse(prompt, "prompt")
    else:
        message = f"must be a string or a list of messages, not {json_type(prompt)}"
        raise RowError(message, field="prompt")
    extra = {k: v for k, v in row.items() if k not in KNOWN}
    return ParsedItem(
        messages=messages,
        responses=[],
        ranking=None,
        external_id=external_id_get(row, "external_id", "id"),
        metadata={"trl": extra} if extra else {},
    )


def _explicit(prompt: Any, chosen: Any, rejected: Any) -> tuple[list[dict[str, str]], str, str]:
    if isinstance(prompt, str):
        for name, value in (("chosen", chosen), ("rejected", rejected)):
            if not isinstance(value, str):
                raise RowError(
                    f"must be a string like the prompt, not {json_type(value)}", field=name
                )
        return [{"role": "user", "content": prompt}], chosen, rejected
    if isinstance(prompt, list):
        messages = messages_parse(prompt, "prompt")
        return messages, _one_reply(chosen, "chosen"), _one_reply(rejected, "rejected")
    message = f"must be a string or a list of messages, not {json_type(prompt)}"
    raise RowError(message, field="prompt")


def _one_reply(value: Any, name: str) -> str:
    if not isinstance(value, list):
        raise RowError(
            f"must be a list of messages like the prompt, not {json_type(value)}", field=name
        )
    messages = messages_parse(value, name)
    if len(messages) != 1 or messages[0]["role"] != "assistant":
        raise RowError("must be exactly one assistant message", field=name)
    return messages[0]["content"]


def _implicit(chosen: Any, rejected: Any) -> tuple[list[dict[str, str]], str, str]:
    if isinstance(chosen, str) and isinstance(rejected, str):
        if chosen == rejected:
            raise RowSkipped(IDENTICAL, field="chosen")
        cut = _common_prefix_length(chosen, rejected)
        if cut > 0 and chosen[cut - 1] == " ":
            cut -= 1
        if cut == 0:
            raise RowError(
                "chosen and rejected share no prefix, so there is no prompt; give 'prompt'",
                field="prompt",
            )
        return [{"role": "user", "content": chosen[:cut]}], chosen[cut:], rejected[cut:]
    if isinstance(chosen, list) and isinstance(rejected, list):
        chosen_messages = messages_parse(chosen, "chosen")
        rejected_messages = messages_parse(rejected, "rejected")
        if chosen_messages == rejected_messages:
            raise RowSkipped(IDENTICAL, field="chosen")
        cut = _common_prefix_length(chosen_messages, rejected_messages)
        prompt = chosen_messages[:cut]
        if not prompt:
            raise RowError(
                "chosen and rejected share no first message, so there is no prompt",
                field="chosen",
            )
        chosen_text = _one_reply(chosen[cut:], "chosen")
        rejected_text = _one_reply(rejected[cut:], "rejected")
        return prompt, chosen_text, rejected_text
    raise RowError(
        "chosen and rejected must both be strings or both be lists of messages", field="chosen"
    )


def _common_prefix_length(a: Any, b: Any) -> int:
    n = min(len(a), len(b))
    for index in range(n):
        if a[index] != b[index]:
            return index
    return n
