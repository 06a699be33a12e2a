"""Several annotators' judgements and a gold answer in one native row.

``judgements`` is a list of ``{"annotator": name, "ranking": [[i], ...] | "verdict": v,
"ratings"?: {i: n} | [n, ...], "rationale"?: str}``: each becomes a judgement by the
inactive, password-less user ``import:<source name>/<annotator>``, so it exports and is
analysed like a human one. ``verdict`` is for two responses: ``"A"`` (the first is
better), ``"B"`` (the second), ``"tie"`` or ``"both_bad"`` (a tie marked both bad), the
verdicts of a pairwise project. ``gold`` is the expected answer of a gold item: a ranking,
or an object with ``ranking`` or ``verdict``. Indexes are 0-based positions in
``responses``. Pure Python: the rating scale is checked against the project by the
import service.
"""

import re
from collections.abc import Mapping
from typing import Any

from core.errors import ValidationError
from feedback.importers.base import ParsedGold, ParsedJudgement, RowError, json_type
from feedback.services.judgements import RATIONALE_MAX, ranking_validate

ANNOTATOR_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,39}$")
VERDICTS = ("A", "B", "tie", "both_bad")
RATING_MAX = 100  # the largest scale a project may have
MAX_JUDGEMENTS = 100


def verdict_ranking(verdict: Any, *, responses: int, field: str) -> tuple[list[list[int]], bool]:
    """The ranking (indexes) and ``both_bad`` flag a pairwise verdict stands for."""
    if verdict not in VERDICTS:
        raise RowError(f"must be one of {', '.join(VERDICTS)}, not {verdict!r}", field=field)
    if responses != 2:
        raise RowError(
            f"a verdict compares exactly two responses; this row has {responses} "
            "(give a ranking instead)",
            field=field,
        )
    if verdict == "A":
        return [[0], [1]], False
    if verdict == "B":
        return [[1], [0]], False
    return [[0, 1]], verdict == "both_bad"


def _ranking(value: Any, *, responses: int, field: str) -> list[list[int]]:
    try:
        return ranking_validate(ranking=value, response_ids=range(responses), field=field)
    except ValidationError as exc:
        reasons = exc.details.get(field, [exc.message]) if exc.details else [exc.message]
        raise RowError(f"{reasons[0]} (indexes into responses, from 0)", field=field) from exc


def _answer(
    entry: Mapping[str, Any], *, responses: int, where: str
) -> tuple[list[list[int]], bool]:
    has_ranking, has_verdict = "ranking" in entry, "verdict" in entry
    if has_ranking == has_verdict:
        raise RowError("give exactly one of 'ranking' and 'verdict'", field=where)
    if has_verdict:
        return verdict_ranking(entry["verdict"], responses=responses, field=f"{where}.verdict")
    return _ranking(entry["ranking"], responses=responses, field=f"{where}.ranking"), False


def _ratings(value: Any, *, responses: int, where: str) -> dict[int, int]:
    if isinstance(value, list):
        if len(value) != responses:
            raise RowError(f"must give one rating per response ({responses})", field=where)
        pairs: list[tuple[Any, Any]] = list(enumerate(value))
    elif isinstance(value, Mapping):
        pairs = list(value.items())
    else:
        raise RowError(
            f"must map response indexes to ratings, or list them, not {json_type(value)}",
            field=where,
        )
    ratings: dict[int, int] = {}
    for key, rating in pairs:
        try:
            index = int(key)
        except (TypeError, ValueError):
            raise RowError(f"{key!r} is not a response index", field=where) from None
        if not 0 <= index < responses:
            raise RowError(f"response {index} does not exist (indexes from 0)", field=where)
        if isinstance(rating, bool) or not isinstance(rating, int) or rating < 1:
            raise RowError(f"rating of response {index} must be a whole number from 1", field=where)
        if rating > RATING_MAX:
            raise RowError(f"rating of response {index} is above {RATING_MAX}", field=where)
        ratings[index] = rating
    missing = sorted(set(range(responses)) - set(ratings))
    if missing:
        raise RowError(f"responses {missing} are not rated", field=where)
    return ratings


def judgements_parse(value: Any, *, responses: int) -> list[ParsedJudgement]:
    """The row's ``judgements`` list, checked entry by entry (the field names the entry)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise RowError(f"must be a list of judgements, not {json_type(value)}", field="judgements")
    if value and responses < 2:
        raise RowError("a row without responses has nothing to judge", field="judgements")
    if len(value) > MAX_JUDGEMENTS:
        raise RowError(f"at most {MAX_JUDGEMENTS} judgements a row", field="judgements")
    parsed: list[ParsedJudgement] = []
    seen: set[str] = set()
    for index, entry in enumerate(value):
        where = f"judgements[{index}]"
        if not isinstance(entry, Mapping):
            raise RowError('must be an object {"annotator", "ranking" | "verdict"}', field=where)
        unknown = sorted(set(entry) - {"annotator", "ranking", "verdict", "ratings", "rationale"})
        if unknown:
            raise RowError(f"unknown key {unknown[0]!r}", field=where)
        name = entry.get("annotator")
        if not isinstance(name, str | int) or isinstance(name, bool):
            raise RowError("must be a name (a string)", field=f"{where}.annotator")
        name = str(name).strip()
        if not ANNOTATOR_NAME.match(name):
            raise RowError(
                "must be 1-40 letters, digits or . _ @ + -, starting with a letter or digit",
                field=f"{where}.annotator",
            )
        if name in seen:
            raise RowError(f"annotator {name!r} judges this row twice", field=f"{where}.annotator")
        seen.add(name)
        ranking, both_bad = _answer(entry, responses=responses, where=where)
        ratings = (
            _ratings(entry["ratings"], responses=responses, where=f"{where}.ratings")
            if entry.get("ratings") is not None
            else {}
        )
        rationale = entry.get("rationale") or ""
        if not isinstance(rationale, str):
            raise RowError("must be a string", field=f"{where}.rationale")
        if len(rationale) > RATIONALE_MAX:
            raise RowError(f"at most {RATIONALE_MAX} characters", field=f"{where}.rationale")
        parsed.append(
            ParsedJudgement(
                annotator=name,
                ranking=ranking,
                both_bad=both_bad,
                ratings=ratings,
                rationale=rationale.strip(),
            )
        )
    return parsed


def gold_parse(value: Any, *, responses: int) -> ParsedGold | None:
    """The row's ``gold`` answer: a ranking, or ``{"ranking"}`` / ``{"verdict"}``."""
    if value is None:
        return None
    if responses < 2:
        raise RowError("a gold item needs at least two responses", field="gold")
    if isinstance(value, list):
        return ParsedGold(ranking=_ranking(value, responses=responses, field="gold"))
    if not isinstance(value, Mapping):
        raise RowError(
            f"must be a ranking or an object with 'ranking' or 'verdict', not {json_type(value)}",
            field="gold",
        )
    ranking, both_bad = _answer(value, responses=responses, where="gold")
    return ParsedGold(ranking=ranking, both_bad=both_bad)
