"""Import of items, responses and imported judgements from preference files.

``items_import`` reads the file streaming (``feedback.importers.reading``: memory bounded
by the largest row, not the file) and hands each row to its format's parser. It writes
the good rows in batches of bulk inserts inside one transaction while it reads, collects
every bad row with its row number and field, and rolls everything back if any row was
bad (it stops reading after ``MAX_ERROR_COUNT`` of them): all or nothing, as before,
without holding the file's rows in memory. Items are keyed by
``external_id`` (given by the row, or derived from its content), so importing the same
file again creates nothing new. Imported preferences become judgements by the inactive,
password-less user ``import:<source_name>`` with ``source="imported"``.
"""

import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import User
from django.db import transaction

from core.errors import ValidationError
from feedback.importers import PARSERS, ParsedItem, RowError, RowSkipped
from feedback.importers.base import ParsedGold
from feedback.importers.reading import FileRefused, rows_read, source_open
from feedback.models import Item, Judgement, Project, Response
from feedback.services.gold import project_gold_count_refresh
from feedback.services.rendering import project_render_enqueue

logger = logging.getLogger(__name__)

IMPORT_FORMATS = ("native", "trl", "hh-rlhf", "oasst", "sharegpt")
MAX_ERRORS = 50  # errors listed in one refusal (all are counted)
MAX_WARNINGS = 50
MAX_ERROR_COUNT = 1000  # reading stops here: the file is refused anyway
PROGRESS_SECONDS = 1.0
BATCH_SIZE = 1000
SOURCE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,99}$")
IMPORT_USER_PREFIX = "import:"

ErrorEntry = dict[str, Any]


@dataclass
class ImportResult:
    items_created: int
    items_existing: int
    responses_created: int
    judgements_created: int
    rows_read: int = 0
    rows_skipped: int = 0
    warnings: list[ErrorEntry] = field(default_factory=list)


@dataclass
class _Parsed:
    items: list[tuple[int, ParsedItem]] = field(default_factory=list)
    errors: list[ErrorEntry] = field(default_factory=list)
    error_count: int = 0
    warnings: list[ErrorEntry] = field(default_factory=list)
    rows: int = 0
    skipped: int = 0

    def error(self, row: int | None, field_name: str | None, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"row": row, "field": field_name, "message": message})

    def warn(self, row: int, field_name: str | None, message: str) -> None:
        self.skipped += 1
        if len(self.warnings) < MAX_WARNINGS:
            self.warnings.append({"row": row, "field": field_name, "message": message})


def items_import(
    *,
    project: Project,
    source: str | Path | IO[bytes],
    format: str,
    source_name: str | None = None,
    filename: str | None = None,
    progress: Callable[[int], None] | None = None,
    gold: bool = False,
) -> ImportResult:
    """Import every row of ``source`` (a path or a binary stream) into ``project``.

    ``gold=True`` imports every row as a gold item whose expected answer is its ``gold``
    field or else its preference (a row with neither is an error). Several annotators'
    judgements of a row (native ``judgements``) are by ``import:<source name>/<annotator>``.

    All or nothing: any bad row raises ``ValidationError`` whose details are
    ``{"errors": [{"row", "field", "message"}, ...], "error_count": n}`` and nothing is
    written. Rows that are valid but carry no preference (see each format's notes) are
    skipped and listed in ``ImportResult.warnings``. ``progress``, if given, is called
    with the number of rows read so far, about once a second (background imports).
    """
    if format not in IMPORT_FORMATS:
        _refuse(f"Unknown format '{format}'; use one of {', '.join(IMPORT_FORMATS)}.", "format")
    name = (source_name or format).strip()
    if not SOURCE_NAME.match(name):
        _refuse(
            "A source name is 1-100 letters, digits or . _ @ + -, starting with a letter or digit.",
            "source_name",
        )
    if filename is None and isinstance(source, str | Path):
        filename = Path(source).name

    provenance: dict[str, Any] = {"format": format, "source": name}
    if filename:
        provenance["file"] = filename
    with transaction.atomic():
        # One import at a time per project: a concurrent re-import waits, then finds
        # every item already there instead of colliding on the unique constraint.
        Project.objects.select_for_update().filter(pk=project.pk).first()
        annotator = import_user_get_or_create(source_name=name)
        result = ImportResult(0, 0, 0, 0)
        parsed = _Parsed()

        def flush() -> None:
            _project_check(parsed, project=project, gold=gold)
            if parsed.items and not parsed.error_count:
                batch = _write(
                    project=project,
                    parsed=parsed,
                    annotator=annotator,
                    provenance=provenance,
                    gold=gold,
                )
                result.items_created += batch.items_created
                result.items_existing += batch.items_existing
                result.responses_created += batch.responses_created
                result.judgements_created += batch.judgements_created
            parsed.items.clear()

        _parse(source, format, parsed, flush=flush, progress=progress)
        flush()
        if parsed.error_count:
            first = parsed.errors[0]
            stopped = (
                f" (reading stopped after {MAX_ERROR_COUNT})"
                if parsed.error_count >= MAX_ERROR_COUNT
                else ""
            )
            raise ValidationError(
                f"{parsed.error_count} error(s) in the file{stopped}; nothing was imported. "
                f"First: {error_text(first)}",
                details={"errors": parsed.errors, "error_count": parsed.error_count},
            )
        if parsed.rows == 0:
            _refuse("The file holds no rows.", "file")
        result.rows_read, result.rows_skipped = parsed.rows, parsed.skipped
        result.warnings = parsed.warnings
        if result.items_created:
            project_render_enqueue(project_id=project.pk)
    logger.info(
        "imported %s items (%s already there) into %s from %s (%s)",
        result.items_created,
        result.items_existing,
        project.slug,
        filename or "a stream",
        format,
    )
    return result


def error_text(entry: ErrorEntry) -> str:
    """``row 3, field 'responses': must hold ...`` for one error entry."""
    where = []
    if entry.get("row") is not None:
        where.append(f"row {entry['row']}")
    if entry.get("field"):
        where.append(f"field '{entry['field']}'")
    return f"{', '.join(where)}: {entry['message']}" if where else str(entry["message"])


def import_user_get_or_create(*, source_name: str) -> User:
    """The inactive, password-less user that imported judgements of ``source_name`` are by."""
    user_model = get_user_model()
    user, created = user_model.objects.get_or_create(
        username=f"{IMPORT_USER_PREFIX}{source_name}", defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def _project_check(parsed: _Parsed, *, project: Project, gold: bool) -> None:
    """What a row can only be checked against once the project is known: the rating scale,
    the pairwise-only "both bad" verdict, and (``gold``) an expected answer on every row."""
    pairwise = project.mode == Project.Mode.PAIRWISE
    for row, item in parsed.items:
        if gold and item.gold is None and item.ranking is None:
            parsed.error(row, "gold", "every row of a gold import needs a 'gold' or a ranking")
        if item.gold is not None and item.gold.both_bad and not pairwise:
            parsed.error(row, "gold.verdict", "only pairwise projects have a 'both bad' verdict")
        for index, judgement in enumerate(item.judgements):
            if judgement.both_bad and not pairwise:
                parsed.error(
                    row,
                    f"judgements[{index}].verdict",
                    "only pairwise projects have a 'both bad' verdict",
                )
            if judgement.ratings and not project.ask_ratings:
                parsed.error(
                    row, f"judgements[{index}].ratings", "this project does not ask for ratings"
                )
            elif any(r > project.rating_scale for r in judgement.ratings.values()):
                parsed.error(
                    row,
                    f"judgements[{index}].ratings",
                    f"ratings run from 1 to {project.rating_scale} in this project",
                )


def _refuse(message: str, field_name: str) -> None:
    raise ValidationError(
        message,
        details={
            "errors": [{"row": None, "field": field_name, "message": message}],
            "error_count": 1,
        },
    )


def _parse(
    source: str | Path | IO[bytes],
    format: str,
    parsed: _Parsed,
    *,
    flush: Callable[[], None],
    progress: Callable[[int], None] | None,
) -> None:
    """Read every row into ``parsed``; ``flush`` writes (and empties) ``parsed.items``
    whenever a batch is full."""
    parser = PARSERS[format]
    seen: dict[str, int] = {}
    reported = time.monotonic()
    try:
        with source_open(source, max_bytes=settings.FEEDBACK_IMPORT_MAX_BYTES) as (stream, _):
            for row, value in rows_read(stream):
                parsed.rows += 1
                if progress is not None and time.monotonic() - reported >= PROGRESS_SECONDS:
                    progress(parsed.rows)
                    reported = time.monotonic()
                if isinstance(value, RowError):
                    parsed.error(row, value.field, value.message)
                elif parsed.error_count < MAX_ERROR_COUNT:
                    try:
                        items = parser(value)
                    except RowError as exc:
                        parsed.error(row, exc.field, exc.message)
                    except RowSkipped as exc:
                        parsed.warn(row, exc.field, exc.message)
                    else:
                        for item in items:
                            _keep(parsed, seen, row, item)
                if parsed.error_count >= MAX_ERROR_COUNT:
                    break
                if len(parsed.items) >= BATCH_SIZE:
                    flush()
    except FileRefused as exc:
        _refuse(exc.message, "file")
    if progress is not None:
        progress(parsed.rows)


def _keep(parsed: _Parsed, seen: dict[str, int], row: int, item: ParsedItem) -> None:
    given = item.external_id is not None and not item.external_id_derived
    external_id = item.external_id or item.content_id()
    item.external_id = external_id
    earlier = seen.get(external_id)
    if earlier is not None:
        if given:
            parsed.error(row, "external_id", f"'{external_id}' is also on row {earlier}")
        else:
            parsed.warn(row, None, f"the same item as row {earlier}; imported once")
        return
    seen[external_id] = row
    parsed.items.append((row, item))


def _write(
    *,
    project: Project,
    parsed: _Parsed,
    annotator: User,
    provenance: dict[str, Any],
    gold: bool = False,
) -> ImportResult:
    ids = [item.external_id or "" for _, item in parsed.items]
    existing: set[str] = set()
    for start in range(0, len(ids), 5000):
        existing.update(
            Item.objects.filter(
                project=project, external_id__in=ids[start : start + 5000]
            ).values_list("external_id", flat=True)
        )
    new = [(row, item) for row, item in parsed.items if item.external_id not in existing]
    if gold:
        for _, candidate in new:
            if candidate.gold is None and candidate.ranking is not None:
                # The row's preference is the expected answer, not a judgement of it.
                candidate.gold = ParsedGold(ranking=candidate.ranking)
                candidate.ranking = None
    named = sorted({j.annotator for _, row_item in new for j in row_item.judgements})
    source_name = annotator.username.removeprefix(IMPORT_USER_PREFIX)
    annotators = {
        name: import_user_get_or_create(source_name=f"{source_name}/{name}") for name in named
    }

    items = Item.objects.bulk_create(
        [
            Item(
                project=project,
                external_id=item.external_id or "",
                messages=item.messages,
                metadata={**item.metadata, "import": {**provenance, "row": row}}
                if "import" not in item.metadata
                else item.metadata,
                is_gold=item.gold is not None,
            )
            for row, item in new
        ],
        batch_size=BATCH_SIZE,
    )
    responses = Response.objects.bulk_create(
        [
            Response(
                item=item,
                position=position,
                content=parsed_response.content,
                source=parsed_response.source,
                model_name=parsed_response.model_name,
                metadata=parsed_response.metadata,
            )
            for item, (_, parsed_item) in zip(items, new, strict=True)
            for position, parsed_response in enumerate(parsed_item.responses)
        ],
        batch_size=BATCH_SIZE,
    )
    judgements = []
    gold_items: list[Item] = []
    offset = 0
    for item, (_, parsed_item) in zip(items, new, strict=True):
        response_ids = [r.pk for r in responses[offset : offset + len(parsed_item.responses)]]
        offset += len(parsed_item.responses)
        if parsed_item.gold is not None:
            item.gold_ranking = [[response_ids[i] for i in g] for g in parsed_item.gold.ranking]
            item.gold_both_bad = parsed_item.gold.both_bad
            gold_items.append(item)
        for named_judgement in parsed_item.judgements:
            assert named_judgement.ranking is not None
            judgements.append(
                Judgement(
                    item=item,
                    annotator=annotators[named_judgement.annotator],
                    source=Judgement.Source.IMPORTED,
                    ranking=[[response_ids[i] for i in g] for g in named_judgement.ranking],
                    both_bad=named_judgement.both_bad,
                    ratings={str(response_ids[i]): v for i, v in named_judgement.ratings.items()},
                    rationale=named_judgement.rationale,
                    shown_order=response_ids,
                )
            )
        if parsed_item.ranking is None:
            continue
        judgements.append(
            Judgement(
                item=item,
                annotator=annotator,
                source=Judgement.Source.IMPORTED,
                ranking=[[response_ids[i] for i in group] for group in parsed_item.ranking],
            )
        )
    Judgement.objects.bulk_create(judgements, batch_size=BATCH_SIZE)
    if gold_items:
        Item.objects.bulk_update(
            gold_items, ["gold_ranking", "gold_both_bad"], batch_size=BATCH_SIZE
        )
        project_gold_count_refresh(project=project)
    return ImportResult(
        items_created=len(items),
        items_existing=len(parsed.items) - len(new),
        responses_created=len(responses),
        judgements_created=len(judgements),
        rows_read=parsed.rows,
        rows_skipped=parsed.skipped,
        warnings=parsed.warnings,
    )
