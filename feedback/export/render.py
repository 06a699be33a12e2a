"""How an item's chat messages become the text of a string-format row.

``trl`` and ``kto`` (string prompt): every message becomes ``"<Role>: <content>"``, the
messages are joined by a blank line, and the prompt ends with a blank line and
``"Assistant:"``. Each completion is the response with one space put in front. TRL
concatenates ``prompt + completion`` as is, so the model sees ``"...Assistant: <answer>"``;
removing exactly one leading space from a completion gives the response back unchanged.

``hh-rlhf``: Anthropic's transcript, ``"\\n\\nHuman: <user>\\n\\nAssistant: <assistant>"``
turn after turn, ending with the chosen or rejected answer as the last assistant turn. A
system message becomes a ``"\\n\\nSystem: <content>"`` turn in its place.
"""

from collections.abc import Sequence
from typing import Any

ROLE_LABELS = {"system": "System", "user": "User", "assistant": "Assistant"}
HH_LABELS = {"system": "System", "user": "Human", "assistant": "Assistant"}

Messages = Sequence[dict[str, Any]]


def _label(role: object, labels: dict[str, str]) -> str:
    text = str(role)
    return labels.get(text, text[:1].upper() + text[1:])


def prompt_text(messages: Messages) -> str:
    """The string prompt of the ``trl`` and ``kto`` formats."""
    turns = [f"{_label(m.get('role'), ROLE_LABELS)}: {m.get('content', '')}" for m in messages]
    turns.append("Assistant:")
    return "\n\n".join(turns)


def completion_text(content: str) -> str:
    """A response as a string completion: one leading space, so ``prompt + completion`` reads
    ``"Assistant: <content>"``."""
    return " " + content


def hh_prefix(messages: Messages) -> str:
    """The transcript of the conversation so far, in Anthropic HH-RLHF style."""
    return "".join(
        f"\n\n{_label(m.get('role'), HH_LABELS)}: {m.get('content', '')}" for m in messages
    )


def hh_transcript(prefix: str, answer: str) -> str:
    return f"{prefix}\n\nAssistant: {answer}"
