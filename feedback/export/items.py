"""An export's judged items: the ordered read of ``reading.py`` grouped by item and round,
with the judgements' rankings and ratings as the row builders need them."""

from collections.abc import Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from itertools import groupby
from operator import attrgetter
from typing import Any

import orjson

from feedback.export.params import ExportParams
from feedback.export.reading import (
    JudgementRow,
    ResponseRow,
    item_in_test_split,
    judgement_rows,
)
from feedback.export.render import prompt_text
from feedback.export.weights import Reliabilities
from feedback.models import Project

Row = dict[str, Any]


def json_value(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


@dataclass(slots=True)
class JudgedItem:
    id: int
    external_id: str
    messages: list[dict[str, Any]]
    judgements: list[JudgementRow]
    responses: dict[int, ResponseRow]
    metadata: Any = None
    round: int = 1
    _prompt: str | None = field(default=None)
    _position: dict[int, int] | None = field(default=None)

    @property
    def prompt(self) -> str:
        if self._prompt is None:
            self._prompt = prompt_text(self.messages)
        return self._prompt

    @property
    def position(self) -> dict[int, int]:
        if self._position is None:
            self._position = {rid: r.position for rid, r in self.responses.items()}
        return self._position


def judged_items(
    *, project: Project, params: ExportParams, reliabilities: Reliabilities | None
) -> Generator[JudgedItem, None, None]:
    """The project's judged items, each with its judgements and responses, in item order:
    one per round judged (a consensus, an agreement and every pair only ever combine
    judgements of one round, so responses never shown together are never paired)."""
    rows_in_order = judgement_rows(project=project, params=params, reliabilities=reliabilities)
    with closing(rows_in_order):
        yield from _group(rows_in_order, params=params, full=params.format == "rankings")


def _group(
    rows_in_order: Iterator[JudgementRow], *, params: ExportParams, full: bool
) -> Iterator[JudgedItem]:
    loads = orjson.loads
    for (item_id, round_number), group in groupby(
        rows_in_order, key=attrgetter("item_id", "round")
    ):
        rows = list(group)
        first = rows[0]
        if params.split is not None:
            in_test = item_in_test_split(first.external_id, params.test_fraction)
            if in_test != (params.split == "test"):
                continue
        yield JudgedItem(
            id=item_id,
            external_id=first.external_id,
            messages=loads(first.messages),
            judgements=rows,
            responses={r[0]: ResponseRow(*r) for r in loads(first.responses or "[]")},
            metadata=json_value(first.item_metadata) if full else None,
            round=round_number,
        )


def judgement_ranking(row: JudgementRow, responses: dict[int, ResponseRow]) -> list[list[int]]:
    """A judgement's ranking, without any response the item no longer has."""
    if row.not_rankable:
        return []
    ranking = json_value(row.ranking) or []
    if all(isinstance(g, list) and all(r in responses for r in g) for g in ranking):
        return [g for g in ranking if g]
    groups = [[r for r in g if r in responses] for g in ranking if isinstance(g, list)]
    return [g for g in groups if g]


def judgement_ratings(row: JudgementRow) -> dict[int, float]:
    raw = json_value(row.ratings) or {}
    out: dict[int, float] = {}
    for key, value in raw.items():
        try:
            out[int(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def mean_ratings(rows: Sequence[JudgementRow]) -> dict[int, float]:
    sums: dict[int, list[float]] = {}
    for row in rows:
        for rid, value in judgement_ratings(row).items():
            sums.setdefault(rid, []).append(value)
    return {rid: sum(v) / len(v) for rid, v in sums.items()}
