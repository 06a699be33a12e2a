"""What a valid ranking is: one rule, shared by every door (the judgement service, gold
answers, the importers). Pure Python over response ids; no database."""

from collections.abc import Collection, Sequence
from typing import Any

from core.errors import ValidationError

Ranking = list[list[int]]


def ranking_validate(
    *,
    ranking: Any,
    response_ids: Collection[int],
    field: str = "ranking",
) -> Ranking:
    """Check that ``ranking`` orders every one of ``response_ids`` exactly once.

    A ranking is a list of non-empty groups of response ids, best group first; a group
    of more than one id is a tie. Returns the ranking normalised to ``list[list[int]]``
    or raises ``ValidationError`` whose ``details`` names the field and the reason.
    """

    def fail(reason: str) -> ValidationError:
        return ValidationError(f"{field}: {reason}", details={field: [reason]})

    if not isinstance(ranking, Sequence) or isinstance(ranking, str | bytes):
        raise fail("must be a list of groups of response ids, best first")
    if not ranking:
        raise fail("must rank at least one group")
    expected = set(response_ids)
    seen: set[int] = set()
    normalised: Ranking = []
    for index, group in enumerate(ranking):
        if not isinstance(group, Sequence) or isinstance(group, str | bytes):
            raise fail(f"group {index} must be a list of response ids")
        if not group:
            raise fail(f"group {index} is empty")
        members: list[int] = []
        for value in group:
            if isinstance(value, bool) or not isinstance(value, int):
                raise fail(f"group {index} holds {value!r}, which is not a response id")
            if value not in expected:
                raise fail(f"response {value} does not belong to this item")
            if value in seen:
                raise fail(f"response {value} is ranked more than once")
            seen.add(value)
            members.append(value)
        normalised.append(members)
    missing = sorted(expected - seen)
    if missing:
        raise fail(f"responses {missing} are not ranked")
    return normalised
