"""The export itself: judgements in, dataset rows out, streamed.

The judgements come from one ordered, streamed read (``reading.py``), grouped by item
(``items.py``); each item's rows are built from its judgements by the format's family
(``preference_rows.py``, ``ranking_rows.py``; pairs in ``pairs.py``), JSON by orjson.
"""

import hashlib
from collections.abc import Callable, Generator, Iterator
from contextlib import closing
from dataclasses import dataclass

import orjson

from feedback.export.items import (
    Row,
    judged_items,
    judgement_ranking,
    judgement_ratings,
    mean_ratings,
)
from feedback.export.pairs import agreement, consensus_copeland
from feedback.export.params import ExportParams
from feedback.export.preference_rows import PreferenceRows, Verdict
from feedback.export.ranking_rows import consensus_row, judgement_row
from feedback.export.reading import read_transaction
from feedback.export.weights import export_reliabilities
from feedback.models import Project

CHUNK_BYTES = 256 * 1024


def export_rows(*, project: Project, params: ExportParams) -> Generator[Row, None, None]:
    """Every row of the export, in a deterministic order (item id, then judgement id, then
    the order of ``ranking_pairs``). A generator: rows are produced as they are read."""
    reliabilities = export_reliabilities(project=project) if params.needs_reliability else None
    builder = PreferenceRows(params, project, reliabilities)
    stats = params.needs_item_stats or params.format == "rankings"
    items = judged_items(project=project, params=params, reliabilities=reliabilities)
    # Closing the reads explicitly (also when the consumer stops early, e.g. a client that
    # hangs up) cancels the streamed query before the transaction ends.
    with read_transaction(), closing(items):
        for item in items:
            rankable = [
                (row, ranking)
                for row in item.judgements
                if (ranking := judgement_ranking(row, item.responses))
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
                    yield consensus_row(item, rankable, consensus.ranking, score, consensus.scores)
                else:
                    for row in item.judgements:
                        yield judgement_row(item, row, score)
                continue
            if consensus is not None:
                rows = [row for row, _ in rankable]
                verdict = Verdict(
                    ranking=consensus.ranking,
                    ratings=mean_ratings(rows),
                    both_bad=all(row.both_bad for row in rows),
                    voters=([r for _, r in rankable], votes),
                )
                yield from builder.rows(item, verdict)
                continue
            for (row, ranking), vote in zip(rankable, votes, strict=True):
                verdict = Verdict(
                    ranking=ranking,
                    ratings=judgement_ratings(row) if _needs_ratings(params) else {},
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
