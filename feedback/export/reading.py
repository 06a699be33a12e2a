"""The export's one ordered read: the current judgements of the project, each with its item's
messages and the item's responses aggregated into one JSON array by a correlated subquery,
ordered by item, round and judgement. On Postgres it runs in one read-only REPEATABLE READ
transaction and is streamed in chunks (psycopg's chunked-rows mode), so the server keeps
producing rows while Python builds them and memory stays flat whatever the size of the
project; elsewhere (SQLite, the embedded default) the same SQL is fetched in blocks. Rows
are named tuples (no model instances); their JSON columns are still text, for orjson."""

import hashlib
from collections.abc import Generator, Iterator
from contextlib import contextmanager
from typing import Any, NamedTuple

import orjson
from django.db import connection, transaction
from django.db.models import QuerySet
from django.db.models.expressions import RawSQL

from feedback.export.params import ExportParams
from feedback.export.weights import Reliabilities, export_reliabilities
from feedback.models import Judgement, Project


class JudgementRow(NamedTuple):
    """One judgement as the export reads it; the last nine only for the ``rankings``
    format (None otherwise). JSON columns arrive as text."""

    id: int
    item_id: int
    ranking: Any
    ratings: Any
    both_bad: bool
    not_rankable: bool
    external_id: str
    messages: Any
    responses: Any  # the item's responses: a JSON array of ResponseRow fields
    round: int
    annotator_id: int
    flag_reason: str | None = None
    username: str | None = None
    source: str | None = None
    rationale: str | None = None
    shown_order: Any = None
    time_spent_ms: int | None = None
    version: int | None = None
    created_at: Any = None
    item_metadata: Any = None


class ResponseRow(NamedTuple):
    id: int
    position: int
    content: str
    source: str
    model_name: str


FETCH_SIZE = 1000


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


def item_in_test_split(messages: Any, test_fraction: float) -> bool:
    """Stable split **by prompt**: the first 8 bytes of SHA-256 of the item's prompt (its
    messages as canonical JSON: sorted keys, no spaces), as a fraction of 2**64, fall below
    ``test_fraction``. Items that ask the same prompt (several rows of a source, or the same
    prompt imported twice) land on the same side, so a held-out pair's prompt was never
    trained on; and the same item is on the same side in every call and every database."""
    canonical = orjson.dumps(messages, option=orjson.OPT_SORT_KEYS)
    digest = hashlib.sha256(canonical).digest()
    return int.from_bytes(digest[:8], "big") < test_fraction * 2**64


@contextmanager
def read_transaction() -> Iterator[None]:
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


def judgement_rows(
    *, project: Project, params: ExportParams, reliabilities: Reliabilities | None
) -> Generator[JudgementRow, None, None]:
    """The judgements of the export in item, round, judgement order, streamed (inside the
    caller's ``read_transaction``); with the nine extra columns for ``rankings``."""
    full = params.format == "rankings"
    judgements = judgements_for_export(
        project=project, params=params, reliabilities=reliabilities
    ).annotate(
        export_responses=RawSQL(_RESPONSES_SQL.get(connection.vendor, _RESPONSES_SQL["sqlite"]), ())
    )
    if judgements.query.is_empty():
        return  # e.g. nobody reaches min_reliability: there is no SQL to stream
    columns = _BASE_COLUMNS + (_FULL_COLUMNS if full else ())
    stream = _stream(judgements.order_by("item_id", "round", "id").values_list(*columns))
    try:
        for values in stream:
            yield JudgementRow(*values)
    finally:
        stream.close()
