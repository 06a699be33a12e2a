"""The export itself: judgements in, dataset rows out, streamed.

One ordered read: the current judgements of the project, each with its item's messages and
the item's responses aggregated into one JSON array by a correlated subquery, ordered by
item then judgement. On Postgres it runs in one read-only REPEATABLE READ transaction and is
streamed in chunks (psycopg's chunked-rows mode), so the server keeps producing rows while
Python builds them and memory stays flat whatever the size of the project; elsewhere
(SQLite, the embedded default) the same SQL is fetched in blocks. Rows are plain tuples (no
model instances) and the JSON columns are parsed with orjson. Each item's rows are built in
Python from its judgements (see ``pairs.py``).
"""

import hashlib
from collections.abc import Callable, Generator, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from itertools import groupby
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from core.preferences import preference_problem
from feedback.export.pairs import Pair, agreement, consensus_copeland, ranking_pairs
from feedback.export.params import ExportParams
from feedback.export.render import completion_text, hh_prefix, hh_transcript, prompt_text
from feedback.export.weights import Reliabilities, export_reliabilities, pair_support
from feedback.models import Judgement, Project

FETCH_SIZE = 1000
CHUNK_BYTES = 256 * 1024

Row = dict[str, Any]

# The item's responses as one JSON array of [id, position, content, source, model_name],
# in position order: the same rows for either database, one aggregate function apart.
_RESPONSES_SQL = {
    "postgresql": (
        "(SELECT json_agg(json_build_array(r.id, r.position, r.content, r.source, r.model_name)"
        " ORDER BY r.position)::text FROM feedback_response r"
        ' WHERE r.item_id = "feedback_judgement"."item_id")'
    ),
    "sqlite": (
        "(SELECT json_group_array(json_array(r.id, r.position, r.content, r.source,"
        " r.model_name)) FROM (SELECT * FROM feedback_response r"
        ' WHERE r.item_id = "feedback_judgement"."item_id" ORDER BY r.position) r)'
    ),
}

# Columns read for every format, then the extra ones the lossless ``rankings`` format needs.
_BASE_COLUMNS = (
    "id",
    "item_id",
    "ranking",
    "ratings",
    "both_bad",
    "not_rankable",
    "item__external_id",
    "item__messages",
    "export_responses",
    "round",
    "annotator_id",
)
_FULL_COLUMNS = (
    "flag_reason",
    "annotator__username",
    "source",
    "rationale",
    "shown_order",
    "time_spent_ms",
    "version",
    "created_at",
    "item__metadata",
)
(
    J_ID,
    J_ITEM,
    J_RANKING,
    J_RATINGS,
    J_BOTH_BAD,
    J_NOT_RANKABLE,
    J_EXTERNAL_ID,
    J_MESSAGES,
    J_RESPONSES,
    J_ROUND,
    J_ANNOTATOR,
) = range(11)
(
    J_FLAG,
    J_USERNAME,
    J_SOURCE,
    J_RATIONALE,
    J_SHOWN,
    J_TIME,
    J_VERSION,
    J_CREATED,
    J_ITEM_META,
) = range(11, 20)
R_ID, R_POSITION, R_CONTENT, R_SOURCE, R_MODEL = range(5)


def judgements_for_export(
    *, project: Project, params: ExportParams, reliabilities: Reliabilities | None = None
) -> QuerySet[Judgement]:
    """The judgements an export reads: the current version of each annotator's judgement on
    the project's items, narrowed by the filters of ``params`` (``min_reliability`` reads
    ``reliabilities``, or the project's when not given: see ``weights.py``). Gold items'
    judgements only with ``include_gold``: they are checks of the annotators, not data."""
    qs = Judgement.objects.filter(item__project=project, is_current=True)
    if not params.include_gold:
        qs = qs.filter(item__is_gold=False)
    if params.min_reliability is not None:
        reliabilities = reliabilities or export_reliabilities(project=project)
        above, below, unknown_pass = reliabilities.passing(params.min_reliability)
        if unknown_pass:
            qs = qs.exclude(annotator_id__in=below)
        else:
            qs = qs.filter(annotator_id__in=above) if above else qs.none()
    if params.since is not None:
        qs = qs.filter(created_at__gte=params.since)
    if params.until is not None:
        qs = qs.filter(created_at__lt=params.until)
    if params.source is not None:
        qs = qs.filter(source=params.source)
    if params.annotator is not None:
        if params.annotator.isdigit():
            qs = qs.filter(annotator_id=int(params.annotator))
        else:
            qs = qs.filter(annotator__username=params.annotator)
    if params.exclude_flagged:
        qs = qs.filter(not_rankable=False, flag_reason="")
    return qs


def export_row_count(*, project: Project, params: ExportParams) -> int | None:
    """The number of rows an export gives, when one COUNT query can tell (one row per
    judgement, nothing dropped per item); otherwise None."""
    if params.format != "rankings" or params.needs_item_stats or params.split is not None:
        return None
    return judgements_for_export(project=project, params=params).count()


def item_in_test_split(external_id: str, test_fraction: float) -> bool:
    """Stable split: the first 8 bytes of SHA-256 of the item's external id, as a fraction
    of 2**64, fall below ``test_fraction``. The same item is always on the same side, in
    every database that holds it."""
    digest = hashlib.sha256(external_id.encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") < test_fraction * 2**64


@contextmanager
def _read_transaction() -> Iterator[None]:
    """One transaction for the read; on Postgres REPEATABLE READ and READ ONLY (when it is
    the outermost), and without JIT, which costs more than it saves on this plain query."""
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                if outermost:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                cursor.execute("SET LOCAL jit = off")
        yield


def _stream(qs: QuerySet[Any]) -> Generator[tuple[Any, ...], None, None]:
    """Rows of a ``values_list`` queryset as raw database tuples (JSON columns as text),
    streamed in chunks without holding the result in memory."""
    sql, sql_params = qs.query.sql_with_params()
    connection.ensure_connection()
    if connection.vendor == "postgresql":
        raw = connection.connection
        assert raw is not None
        with raw.cursor() as pg_cursor:
            yield from pg_cursor.stream(sql, sql_params, size=FETCH_SIZE)
        return
    cursor = connection.chunked_cursor()
    try:
        cursor.execute(sql, sql_params)
        while block := cursor.fetchmany(FETCH_SIZE):
            yield from block
    finally:
        cursor.close()


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
    judgements: list[tuple[Any, ...]]
    responses: dict[int, tuple[Any, ...]]
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
            self._position = {rid: r[R_POSITION] for rid, r in self.responses.items()}
        return self._position


def _items(
    *, project: Project, params: ExportParams, reliabilities: Reliabilities | None
) -> Generator[_Item, None, None]:
    """The project's judged items, each with its judgements and responses, in item order:
    one per round judged (a consensus, an agreement and every pair only ever combine
    judgements of one round, so responses never shown together are never paired)."""
    full = params.format == "rankings"
    judgements = judgements_for_export(
        project=project, params=params, reliabilities=reliabilities
    ).annotate(
        export_responses=RawSQL(_RESPONSES_SQL.get(connection.vendor, _RESPONSES_SQL["sqlite"]), ())
    )
    if judgements.query.is_empty():
        return  # e.g. nobody reaches min_reliability: there is no SQL to stream
    columns = _BASE_COLUMNS + (_FULL_COLUMNS if full else ())
    rows_in_order = _stream(judgements.order_by("item_id", "round", "id").values_list(*columns))
    with closing(rows_in_order):
        yield from _group(rows_in_order, params=params, full=full)


def _group(
    rows_in_order: Iterator[tuple[Any, ...]], *, params: ExportParams, full: bool
) -> Iterator[_Item]:
    loads = orjson.loads
    for (item_id, round_number), group in groupby(rows_in_order, key=itemgetter(J_ITEM, J_ROUND)):
        rows = list(group)
        first = rows[0]
        if params.split is not None:
            in_test = item_in_test_split(first[J_EXTERNAL_ID], params.test_fraction)
            if in_test != (params.split == "test"):
                continue
        yield _Item(
            id=item_id,
            external_id=first[J_EXTERNAL_ID],
            messages=loads(first[J_MESSAGES]),
            judgements=rows,
            responses={r[R_ID]: r for r in loads(first[J_RESPONSES] or "[]")},
            metadata=_json(first[J_ITEM_META]) if full else None,
            round=round_number,
        )


def _ranking(row: tuple[Any, ...], responses: dict[int, tuple[Any, ...]]) -> list[list[int]]:
    """A judgement's ranking, without any response the item no longer has."""
    if row[J_NOT_RANKABLE]:
        return []
    ranking = _json(row[J_RANKING]) or []
    if all(isinstance(g, list) and all(r in responses for r in g) for g in ranking):
        return [g for g in ranking if g]
    groups = [[r for r in g if r in responses] for g in ranking if isinstance(g, list)]
    return [g for g in groups if g]


def _ratings(row: tuple[Any, ...]) -> dict[int, float]:
    raw = _json(row[J_RATINGS]) or {}
    out: dict[int, float] = {}
    for key, value in raw.items():
        try:
            out[int(key)] = float(value)
        except (TypeError, ValueError):
            continue
    return out


def _mean_ratings(rows: Sequence[tuple[Any, ...]]) -> dict[int, float]:
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
            chosen = content[pair.chosen][R_CONTENT]
            rejected = content[pair.rejected][R_CONTENT]
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
                        "completion": completion_text(content[rid][R_CONTENT]),
                        "label": rating > self.rating_midpoint,
                    }
            return
        for pair, _margin, _weight in self.pairs(item, verdict):
            yield {
                "prompt": item.prompt,
                "completion": completion_text(content[pair.chosen][R_CONTENT]),
                "label": not verdict.both_bad,
            }
            yield {
                "prompt": item.prompt,
                "completion": completion_text(content[pair.rejected][R_CONTENT]),
                "label": False,
            }


def _response_list(item: _Item) -> list[Row]:
    return [
        {
            "id": r[R_ID],
            "position": r[R_POSITION],
            "content": r[R_CONTENT],
            "source": r[R_SOURCE],
            "model_name": r[R_MODEL],
        }
        for r in sorted(item.responses.values(), key=itemgetter(R_POSITION))
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
    with _read_transaction(), closing(items):
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
                [reliabilities.of(row[J_ANNOTATOR]) for row, _ in rankable]
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
                    both_bad=all(row[J_BOTH_BAD] for row in rows),
                    voters=([r for _, r in rankable], votes),
                )
                yield from builder.rows(item, verdict)
                continue
            for (row, ranking), vote in zip(rankable, votes, strict=True):
                verdict = _Verdict(
                    ranking=ranking,
                    ratings=_ratings(row) if _needs_ratings(params) else {},
                    both_bad=bool(row[J_BOTH_BAD]),
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


def _judgement_row(item: _Item, row: tuple[Any, ...], score: float | None) -> Row:
    return {
        "judgement_id": row[J_ID],
        "item": _item_dict(item),
        "round": item.round,
        "responses": _response_list(item),
        "ranking": _json(row[J_RANKING]),
        "both_bad": bool(row[J_BOTH_BAD]),
        "ratings": _json(row[J_RATINGS]),
        "rationale": row[J_RATIONALE],
        "not_rankable": bool(row[J_NOT_RANKABLE]),
        "flag_reason": row[J_FLAG],
        "annotator": {"id": row[J_ANNOTATOR], "username": row[J_USERNAME]},
        "source": row[J_SOURCE],
        "shown_order": _json(row[J_SHOWN]),
        "time_spent_ms": row[J_TIME],
        "version": row[J_VERSION],
        "created_at": _iso(row[J_CREATED]),
        "agreement": score,
    }


def _consensus_row(
    item: _Item,
    rankable: list[tuple[tuple[Any, ...], list[list[int]]]],
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
        "judgement_ids": [row[J_ID] for row in rows],
        "annotators": [{"id": row[J_ANNOTATOR], "username": row[J_USERNAME]} for row in rows],
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
