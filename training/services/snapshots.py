"""Dataset snapshots: the export of given parameters, written once to an immutable file.

Training reads snapshots, never the live tables, so every model names the exact data it
saw. ``snapshot_create`` is all or nothing: the JSONL (and Parquet) files are written under
temporary names, flushed to disk and renamed into place, and only then is the READY row
inserted; any failure removes whatever was written and leaves no row behind.
"""

import logging
import os
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict
from feedback.export import ExportStream, export_params_parse
from feedback.models import Project
from training.models import DatasetSnapshot

logger = logging.getLogger(__name__)


def snapshot_file(snapshot: DatasetSnapshot) -> Path:
    """The absolute path of the snapshot's JSONL file."""
    return Path(settings.SNAPSHOT_DIR) / snapshot.path


def snapshot_parquet_file(snapshot: DatasetSnapshot) -> Path | None:
    """The absolute path of the snapshot's Parquet file, if it has one."""
    return Path(settings.SNAPSHOT_DIR) / snapshot.parquet_path if snapshot.parquet_path else None


def _parquet_schema(fmt: str, margin: bool, weight: bool = False) -> Any:
    """The Arrow schema of a format's rows; None for ``rankings``, whose rows have no fixed
    shape (ratings keyed by response id) and stay JSON Lines only."""
    import pyarrow as pa  # heavy, and only a Parquet write needs it

    message = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
    fields: dict[str, list[tuple[str, Any]]] = {
        "trl": [("prompt", pa.string()), ("chosen", pa.string()), ("rejected", pa.string())],
        "trl-conversational": [("prompt", message), ("chosen", message), ("rejected", message)],
        "trl-implicit": [("chosen", message), ("rejected", message)],
        "kto": [("prompt", pa.string()), ("completion", pa.string()), ("label", pa.bool_())],
        "hh-rlhf": [("chosen", pa.string()), ("rejected", pa.string())],
    }
    if fmt not in fields:
        return None
    columns = fields[fmt] + ([("margin", pa.float64())] if margin else [])
    columns += [("weight", pa.float64())] if weight else []
    return pa.schema(columns)


def _remove(*paths: Path | None) -> None:
    for path in paths:
        if path is not None:
            path.unlink(missing_ok=True)


def snapshot_create(
    *,
    project: Project,
    params: Mapping[str, object],
    user: User | None = None,
) -> DatasetSnapshot:
    """Write the export of ``params`` for ``project`` to an immutable JSONL file (and a
    Parquet file for the TRL formats) under ``SNAPSHOT_DIR`` and record it as READY with its
    parameters, row count, byte size and SHA-256 of the JSONL file.

    ``ValidationError`` for bad parameters (naming the field); ``Conflict`` when no row
    matches them (an empty dataset trains nothing).
    """
    parsed = export_params_parse(params)
    folder = Path(settings.SNAPSHOT_DIR) / project.slug
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"{timezone.now():%Y%m%dT%H%M%SZ}-{uuid.uuid4().hex[:12]}-{parsed.format}"
    final = folder / f"{stem}.jsonl"
    partial = folder / f".{stem}.jsonl.partial"
    schema = _parquet_schema(parsed.format, parsed.margin is not None, parsed.weight is not None)
    parquet_final = folder / f"{stem}.parquet" if schema is not None else None
    parquet_partial = folder / f".{stem}.parquet.partial" if schema is not None else None
    writer = None
    try:
        if schema is not None:
            # pyarrow only for a parquet snapshot
            import pyarrow as pa
            import pyarrow.parquet as pq

            writer = pq.ParquetWriter(str(parquet_partial), schema)

            def write_parquet(rows: list[dict[str, Any]]) -> None:
                assert writer is not None
                writer.write_table(pa.Table.from_pylist(rows, schema=schema))

        stream = ExportStream(
            project=project,
            params=parsed,
            on_rows=write_parquet if schema is not None else None,
        )
        with partial.open("wb") as out:
            for chunk in stream:
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        if writer is not None:
            writer.close()
            writer = None
        if stream.row_count == 0:
            raise Conflict(
                f"Project “{project.name}” has no rows that match these export parameters;"
                " a snapshot would be empty.",
                code="empty_snapshot",
                details={"params": parsed.as_query()},
            )
        for path in (partial, parquet_partial):
            if path is not None:
                path.chmod(0o444)  # a snapshot is never rewritten
        partial.replace(final)
        if parquet_partial is not None and parquet_final is not None:
            parquet_partial.replace(parquet_final)
        with transaction.atomic():
            snapshot = DatasetSnapshot.objects.create(
                project=project,
                format=parsed.format,
                params=parsed.as_dict(),
                status=DatasetSnapshot.Status.READY,
                path=str(final.relative_to(settings.SNAPSHOT_DIR)),
                parquet_path=(
                    str(parquet_final.relative_to(settings.SNAPSHOT_DIR)) if parquet_final else ""
                ),
                row_count=stream.row_count,
                byte_size=stream.byte_size,
                sha256=stream.sha256,
                created_by=user,
                finished_at=timezone.now(),
            )
    except BaseException:
        if writer is not None:
            writer.close()
        _remove(partial, final, parquet_partial, parquet_final)
        raise
    logger.info(
        "snapshot %s of %s: %s rows, %s bytes", snapshot.pk, project.slug, snapshot.row_count,
        snapshot.byte_size,
    )  # fmt: skip
    return snapshot
