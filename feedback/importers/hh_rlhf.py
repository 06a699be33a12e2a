"""Anthropic HH-RLHF rows: ``{"chosen": str, "rejected": str}``, each a whole transcript
``"\\n\\nHuman: ...\\n\\nAssistant: ..."``.

A transcript is split on ``"\\n\\nHuman:"`` and ``"\\n\\nAssistant:"`` into user and
assistant messages (one space after the colon is dropped; the rest of each turn is kept
as it is; a transcript that starts ``"Human:"`` without the blank line is accepted too).
The turns before the last Assistant turn are the prompt and must be the same in both
transcripts; the two last Assistant turns are the responses, ``chosen`` first, with an
imported judgement preferring it.

Quirks of the real data, and what happens to each:

- **Empty final reply** (the transcript ends with ``"Assistant:"``): imported as an empty
  response. Raters did prefer (or reject) saying nothing, and that is a real preference.
  Only when *both* final replies are empty is there nothing to compare (next point).
- **Identical chosen and rejected**: skipped with a warning
  naming the row; a preference between two equal texts teaches nothing.
- **Transcripts that differ before the last Assistant turn** (the human turn itself
  differs): skipped with a warning; there is no shared prompt to attach both replies to.
- **One transcript goes on after its reply** (it ends with a Human turn: two rows of the
  published helpful-online test split): skipped with a warning; that side has no final reply
  to compare. When *both* end so, the row is an error (next point).
- **Transcripts that do not parse** (no leading Human turn, a turn that is neither Human
  nor Assistant, no final Assistant turn, not a string): a row error, and the import is
  refused like any other bad input; such a file is not HH-RLHF.

Optional ``id`` (or ``external_id``) names the item; otherwise its id is a hash of its
content, so re-importing the file creates nothing new.
"""

import re
from typing import Any

from core.preferences import IDENTICAL
from feedback.importers.base import (
    ParsedItem,
    RowError,
    RowSkipped,
    external_id_get,
    preference_pair,
    require_key,
    require_object,
    require_str,
)

TURN = re.compile(r"\n\n(Human|Assistant):")
ROLE = {"Human": "user", "Assistant": "assistant"}


class _EndsWithHuman(RowError):
    """A transcript whose last turn is the user's: it has no final reply."""


def parse(row: Any) -> list[ParsedItem]:
    row = require_object(row)
    sides: dict[str, list[dict[str, str]]] = {}
    unanswered: list[_EndsWithHuman] = []
    for field in ("chosen", "rejected"):
        try:
            sides[field] = transcript_split(require_str(require_key(row, field), field), field)
        except _EndsWithHuman as error:
            unanswered.append(error)
    if len(unanswered) == 2:
        raise unanswered[0]
    if unanswered:
        raise RowSkipped(
            "ends with a Human turn (the conversation went on after the reply); "
            "there is no final reply to compare",
            field=unanswered[0].field,
        )
    chosen, rejected = sides["chosen"], sides["rejected"]
    if chosen == rejected:
        raise RowSkipped(IDENTICAL, field="chosen")
    if chosen[:-1] != rejected[:-1]:
        raise RowSkipped(
            "chosen and rejected differ before their last Assistant turn; no shared prompt",
            field="rejected",
        )
    return [
        preference_pair(
            messages=chosen[:-1],
            chosen=chosen[-1]["content"],
            rejected=rejected[-1]["content"],
            external_id=external_id_get(row, "external_id", "id"),
        )
    ]


def transcript_split(text: str, field: str) -> list[dict[str, str]]:
    """``"\\n\\nHuman: a\\n\\nAssistant: b"`` -> user and assistant messages."""
    if text.startswith("Human:"):  # some copies drop the leading blank line
        text = "\n\n" + text
    parts = TURN.split(text)
    # parts = [before, role, content, role, content, ...]
    if parts[0].strip():
        raise RowError(
            'does not parse as a transcript: it must start with "\\n\\nHuman:"', field=field
        )
    messages = []
    for index in range(1, len(parts), 2):
        content = parts[index + 1]
        messages.append({"role": ROLE[parts[index]], "content": content.removeprefix(" ")})
    if not messages or messages[0]["role"] != "user":
        raise RowError(
            'does not parse as a transcript: it must start with "\\n\\nHuman:"', field=field
        )
    if messages[-1]["role"] != "assistant" or len(messages) < 2:
        raise _EndsWithHuman(
            "does not parse as a transcript: it must end with an Assistant turn", field=field
        )
    return messages
