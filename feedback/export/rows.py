"""The export itself: judgements in, dataset rows out, streamed.

The judgements come from one ordered, streamed read (``reading.py``) as named tuples; each
item's rows are built here from its judgements (see ``pairs.py``), JSON parsed by orjson.
"""

import hashlib
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import attrgetter
from typing import Any

import orjson

from core.preferences import preference_problem
from feedback.export.pairs import Pair, agreement, consensus_copeland, ranking_pairs
from feedback.export.params import ExportParams
from feedback.export.reading import (
    JudgementRow,
    ResponseRow,
    item_in_test_split,
    judgement_rows,
    read_transaction,
)
from feedback.export.render import completion_text, hh_prefix, hh_transcript, prompt_text
from feedback.export.weights import Reliabilities, export_reliabilities, pair_support
from feedback.models import Project

CHUNK_BYTES = 256 * 1024

Row = dict[str, Any]


def _json(value: Any) -> Any:
    if isinstance(value, str | bytes):
        return orjson.loads(value)
    return value


def _iso(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return str(value.astimezone(UTC).isoformat().replace("+00:00", "Z"))


@dataclass(slots=True)
class _Item:
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


def _items(
    *, project: Project, params: ExportParams, reliabilities: Reliabilities | None
) -> Generator[_Item, None, None]:
    """The project's judged items, each with its judgements and responses, in item order:
    one per round judged (a consensus, an agreement and every pair only ever combine
    judgements of one round, so responses never shown together are never paired)."""
    rows_in_order = judgement_rows(project=project, params=params, reliabilities=reliabilities)
    with closing(rows_in_order):
        yield from _group(rows_in_order, params=params, full=params.format == "rankings")


def _group(
    rows_in_order: Iterator[JudgementRow], *, params: ExportParams, full: bool
) -> Iterator[_Item]:
    loads = orjson.loads
    for (item_id, round_number), group in groupby(
        rows_in_order, key=attrgetter("item_id", "round")
    ):
        rows = list(group)
        first = rows[0]
        messages = loads(first.messages)
        if params.split is not None:
            in_test = item_in_test_split(messages, params.test_fraction)
            if in_test != (params.split == "test"):
                continue
        yield _Item(
            id=item_id,
            external_id=first.external_id,
            messages=messages,
            judgements=rows,
            responses={r[0]: ResponseRow(*r) for r in loads(first.responses or "[]")},
            metadata=_json(first.item_metadata) if full else None,
            round=round_number,
        )


def _ranking(row: JudgementRow, responses: dict[int, ResponseRow]) -> list[list[int]]:
    """A judgement's ranking, without any response the item no longer has."""
    if row.not_rankable:
        return []
    ranking = _json(row.ranking) or []
    if all(isinstance(g, list) and all(r in responses for r in g) for g in ranking):
        return [g for g in ranking if g]
    groups = [[r for r in g if r in responses] for g in ranking if isinstance(g, list)]
    return [g for g in groups if g]


def _ratings(row: JudgementRow) -> dict[int, float]:
    raw = _json(row.ratings) or {}
    out: dict[int, float] = {}
    for key, value in raw.items():
        try:
            out[int(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _mean_ratings(rows: Sequence[JudgementRow]) -> dict[int, float]:
    sums: dict[int, list[float]] = {}
    for row in rows:
        for rid, value in _ratings(row).items():
            sums.setdefault(rid, []).append(value)
    return {rid: sum(v) / len(v) for rid, v in sums.items()}


@dataclass(slots=True)
class _Verdict:
    """What rows are made from: one judgement, or the consensus of an item's judgements."""

    ranking: list[list[int]]
    ratings: dict[int, float]
    both_bad: bool
    weight: float = 1.0  # one judgement's: its annotator's reliability
    # A consensus's: the rankings it was made from, with their annotators' reliabilities.
    voters: tuple[list[list[list[int]]], list[float]] | None = None


class _Builder:
    def __init__(
        self, params: ExportParams, project: Project, reliabilities: Reliabilities | None
    ) -> None:
        self.params = params
        self.rating_midpoint = (1 + project.rating_scale) / 2
        self.reliabilities = reliabilities
        self.weighs = params.weight is not None or params.margin == "reliability"

    def pair_weight(self, pair: Pair, verdict: _Verdict) -> float:
        if verdict.voters is None:
            return verdict.weight
        return pair_support(pair, *verdict.voters)

    def pairs(
        self, item: _Item, verdict: _Verdict
    ) -> list[tuple[Pair, float | None, float | None]]:
        """Each pair with its margin and its weight (None where not asked for)."""
        params = self.params
        out: list[tuple[Pair, float | None, float | None]] = []
        ranking = verdict.ranking
        # Arrival order settles the order inside a tie; a ranking without ties needs none.
        position = item.position if any(len(g) > 1 for g in ranking) else None
        for pair in ranking_pairs(ranking, mode=params.pairs, ties=params.ties, position=position):
            margin: float | None = None
            weight = self.pair_weight(pair, verdict) if self.weighs else None
            if params.margin == "reliability":
                margin = 0.0 if pair.rank_distance == 0 else weight
            elif params.margin == "rank-distance":
                margin = float(pair.rank_distance)
            elif params.margin == "rating-difference":
                if pair.rank_distance == 0:
                    margin = 0.0
                else:
                    a = verdict.ratings.get(pair.chosen)
                    b = verdict.ratings.get(pair.rejected)
                    if a is None or b is None:
                        continue  # documented: pairs without both ratings are left out
                    margin = a - b
            out.append((pair, margin, weight if params.weight is not None else None))
        return out

    def rows(self, item: _Item, verdict: _Verdict) -> Iterator[Row]:
        fmt = self.params.format
        content = item.responses
        if fmt == "kto":
            yield from self.kto_rows(item, verdict)
            return
        for pair, margin, weight in self.pairs(item, verdict):
            chosen = content[pair.chosen].content
            rejected = content[pair.rejected].content
            if preference_problem(prompt=item.messages, chosen=chosen, rejected=rejected):
                continue  # two responses with the same text: no preference (core.preferences)
            row: Row
            if fmt == "trl":
                row = {
                    "prompt": item.prompt,
                    "chosen": completion_text(chosen),
                    "rejected": completion_text(rejected),
                }
            elif fmt == "trl-conversational":
                row = {
                    "prompt": item.messages,
                    "chosen": [{"role": "assistant", "content": chosen}],
                    "rejected": [{"role": "assistant", "content": rejected}],
                }
            elif fmt == "trl-implicit":
                row = {
                    "chosen": [*item.messages, {"role": "assistant", "content": chosen}],
                    "rejected": [*item.messages, {"role": "assistant", "content": rejected}],
                }
            else:  # hh-rlhf
                prefix = hh_prefix(item.messages)
                row = {
                    "chosen": hh_transcript(prefix, chosen),
                    "rejected": hh_transcript(prefix, rejected),
                }
            if margin is not None:
                row["margin"] = margin
            if weight is not None:
                row["weight"] = weight
            yield row

    def kto_rows(self, item: _Item, verdict: _Verdict) -> Iterator[Row]:
        content = item.responses
        if verdict.ratings:
            # Ratings: above the middle of the scale is desirable, below it undesirable;
            # a rating exactly in the middle says neither and gives no row.
            for group in verdict.ranking:
                for rid in sorted(group, key=lambda r: (item.position.get(r, r), r)):
                    rating = verdict.ratings.get(rid)
                    if rating is None or rating == self.rating_midpoint:
                        continue
                    yield {
                        "prompt": item.prompt,
                        "completion": completion_text(content[rid].content),
                        "label": rating > self.rating_midpoint,
                    }
            return
        for pair, _margin, _weight in self.pairs(item, verdict):
            yield {
                "prompt": item.prompt,
                "completion": completion_text(content[pair.chosen].content),
                "label": not verdict.both_bad,
            }
            yield {
                "prompt": item.prompt,
                "completion": completion_text(content[pair.rejected].content),
                "label": False,
            }


def _response_list(item: _Item) -> list[Row]:
    return [
        {
            "id": r.id,
            "position": r.position,
            "content": r.content,
            "source": r.source,
            "model_name": r.model_name,
        }
        for r in sorted(item.responses.values(), key=attrgetter("position"))
    ]


def _item_dict(item: _Item) -> Row:
    return {
        "id": item.id,
        "external_id": item.external_id,
        "messages": item.messages,
        "metadata": item.metadata,
    }


def _ratings_out(ratings: dict[int, float]) -> dict[str, float]:
    return {str(k): v for k, v in sorted(ratings.items())}


def export_rows(*, project: Project, params: ExportParams) -> Generator[Row, None, None]:
    """Every row of the export, in a deterministic order (item id, then judgement id, then
    the order of ``ranking_pairs``). A generator: rows are produced as they are read."""
    reliabilities = export_reliabilities(project=project) if params.needs_reliability else None
    builder = _Builder(params, project, reliabilities)
    stats = params.needs_item_stats or params.format == "rankings"
    items = _items(project=project, params=params, reliabilities=reliabilities)
    # Closing the reads explicitly (also when the consumer stops early, e.g. a client that
    # hangs up) cancels the streamed query before the transaction ends.
    with read_transaction(), closing(items):
        for item in items:
            rankable = [
                (row, ranking)
                for row in item.judgements
                if (ranking := _ranking(row, item.responses))
            ]
            if params.min_judgements is not None and len(rankable) < params.min_judgements:
                continue
            consensus = None
            score: float | None = None
            votes = (
                [reliabilities.of(row.annotator_id) for row, _ in rankable]
                if reliabilities is not None
                else [1.0] * len(rankable)
            )
            if stats:
                if params.aggregate != "none":
                    if not rankable:
                        continue
                    consensus = consensus_copeland(
                        [r for _, r in rankable],
                        position=item.position,
                        weights=votes if params.aggregate == "weighted-consensus" else None,
                    )
                    score = consensus.agreement
                elif rankable:
                    score = _plain_agreement([r for _, r in rankable], item.position)
                if params.min_agreement is not None and (
                    score is None or score < params.min_agreement
                ):
                    continue
            if params.format == "rankings":
                if consensus is not None:
                    yield _consensus_row(item, rankable, consensus.ranking, score, consensus.scores)
                else:
                    for row in item.judgements:
                        yield _judgement_row(item, row, score)
                continue
            if consensus is not None:
                rows = [row for row, _ in rankable]
                verdict = _Verdict(
                    ranking=consensus.ranking,
                    ratings=_mean_ratings(rows),
                    both_bad=all(row.both_bad for row in rows),
                    voters=([r for _, r in rankable], votes),
                )
                yield from builder.rows(item, verdict)
                continue
            for (row, ranking), vote in zip(rankable, votes, strict=True):
                verdict = _Verdict(
                    ranking=ranking,
                    ratings=_ratings(row) if _needs_ratings(params) else {},
                    both_bad=bool(row.both_bad),
                    weight=vote,
                )
                yield from builder.rows(item, verdict)


def _needs_ratings(params: ExportParams) -> bool:
    return params.format == "kto" or params.margin == "rating-difference"


def _plain_agreement(rankings: list[list[list[int]]], position: dict[int, int]) -> float:
    """Agreement of an item's judgements with their consensus (aggregate=none)."""
    if len(rankings) == 1:
        return 1.0
    return agreement(rankings, consensus_copeland(rankings, position=position).ranking)


def _judgement_row(item: _Item, row: JudgementRow, score: float | None) -> Row:
    return {
        "judgement_id": row.id,
        "item": _item_dict(item),
        "round": item.round,
        "responses": _response_list(item),
        "ranking": _json(row.ranking),
        "both_bad": bool(row.both_bad),
        "ratings": _json(row.ratings),
        "rationale": row.rationale,
        "not_rankable": bool(row.not_rankable),
        "flag_reason": row.flag_reason,
        "annotator": {"id": row.annotator_id, "username": row.username},
        "source": row.source,
        "shown_order": _json(row.shown_order),
        "time_spent_ms": row.time_spent_ms,
        "version": row.version,
        "created_at": _iso(row.created_at),
        "agreement": score,
    }


def _consensus_row(
    item: _Item,
    rankable: list[tuple[JudgementRow, list[list[int]]]],
    ranking: list[list[int]],
    score: float | None,
    scores: dict[int, int],
) -> Row:
    rows = [row for row, _ in rankable]
    return {
        "item": _item_dict(item),
        "round": item.round,
        "responses": _response_list(item),
        "ranking": ranking,
        "agreement": score,
        "copeland_scores": {str(k): v for k, v in sorted(scores.items())},
        "ratings": _ratings_out(_mean_ratings(rows)),
        "judgement_count": len(rows),
        "judgement_ids": [row.id for row in rows],
        "annotators": [{"id": row.annotator_id, "username": row.username} for row in rows],
    }


@dataclass
class ExportStream:
    """JSON Lines of an export in chunks of about ``chunk_bytes``, with the row count and
    SHA-256 of everything written known once the stream is exhausted."""

    project: Project
    params: ExportParams
    chunk_bytes: int = CHUNK_BYTES
    on_rows: Callable[[list[Row]], None] | None = None
    row_count: int = 0
    byte_size: int = 0
    sha256: str = ""

    def __iter__(self) -> Iterator[bytes]:
        rows = export_rows(project=self.project, params=self.params)
        with closing(rows):
            yield from self._chunks(rows)

    def _chunks(self, rows: Iterator[Row]) -> Iterator[bytes]:
        digest = hashlib.sha256()
        dumps = orjson.dumps
        option = orjson.OPT_APPEND_NEWLINE | orjson.OPT_NON_STR_KEYS
        buffer: list[bytes] = []
        batch: list[Row] = []
        size = count = total = 0
        for row in rows:
            line = dumps(row, option=option)
            buffer.append(line)
            size += len(line)
            count += 1
            if self.on_rows is not None:
                batch.append(row)
            if size >= self.chunk_bytes:
                chunk = b"".join(buffer)
                digest.update(chunk)
                total += len(chunk)
                if self.on_rows is not None:
                    self.on_rows(batch)
                    batch = []
                buffer, size = [], 0
                yield chunk
        if buffer:
            chunk = b"".join(buffer)
            digest.update(chunk)
            total += len(chunk)
            if self.on_rows is not None and batch:
                self.on_rows(batch)
            yield chunk
        self.row_count, self.byte_size, self.sha256 = count, total, digest.hexdigest()
