"""Imports in the background: a file is stored, a job row is queued, a worker imports it.

``import_job_create`` copies the upload under ``settings.IMPORT_DIR`` (counting its size
against ``FEEDBACK_IMPORT_MAX_BYTES`` while copying), records an ``ImportJob`` and
enqueues ``feedback.tasks.import_run`` once the row is committed. ``import_job_run``
(the task's body) imports the file through ``feedback.services.imports.items_import``,
the same all-or-nothing service as the synchronous doors, and records progress (bytes of
the stored file read, rows read), then the result or the row errors. The stored file is
deleted when the job finishes.

Progress is written through a connection of its own while the import's transaction is
open, so pollers see it live (on SQLite, the embedded default, a second writer would
wait for that transaction: there the row shows progress only when the job ends).

A second delivery of a finished job does nothing; a job found ``running`` (its worker
died; the import's transaction was rolled back with it) is run again from the start.
"""

import logging
import time
import uuid
from pathlib import Path
from typing import IO, Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from django.utils import timezone

from core.errors import ApplicationError, ValidationError
from feedback.importers.reading import size_text
from feedback.models import ImportJob, Project
from feedback.services.imports import IMPORT_FORMATS, SOURCE_NAME, items_import

logger = logging.getLogger(__name__)

COPY_CHUNK = 1 << 20
MAX_ATTEMPTS = 3


def _invalid(field: str, reason: str) -> ValidationError:
    return ValidationError(f"{field}: {reason}", details={field: [reason]})


def import_job_create(
    *,
    project: Project,
    upload: IO[bytes],
    format: str,
    filename: str,
    user: User | None,
    source_name: str | None = None,
) -> ImportJob:
    """Store ``upload`` and queue its import; the file's content is checked by the job."""
    if format not in IMPORT_FORMATS:
        raise _invalid("format", f"must be one of {', '.join(IMPORT_FORMATS)}")
    name = (source_name or "").strip()
    if name and not SOURCE_NAME.match(name):
        raise _invalid(
            "source_name",
            "1-100 letters, digits or . _ @ + -, starting with a letter or digit",
        )
    directory = Path(settings.IMPORT_DIR)
    directory.mkdir(parents=True, exist_ok=True)
    stored = f"{uuid.uuid4().hex}.upload"
    size = _copy(upload, directory / stored, settings.FEEDBACK_IMPORT_MAX_BYTES)
    try:
        job = ImportJob.objects.create(
            project=project,
            created_by=user,
            format=format,
            source_name=name,
            filename=Path(filename or "upload").name[:255],
            file_path=stored,
            file_bytes=size,
        )
    except BaseException:
        (directory / stored).unlink(missing_ok=True)
        raise
    # A service names a task only where it sends one; the task imports the service inside
    # its body (HackSoft's Celery guidance), so neither module loads the other.
    from feedback.tasks import import_run

    transaction.on_commit(lambda: import_run.delay(job.pk))
    return job


def _copy(upload: IO[bytes], target: Path, limit: int) -> int:
    size = 0
    with target.open("wb") as out:
        while chunk := upload.read(COPY_CHUNK):
            size += len(chunk)
            if size > limit:
                out.close()
                target.unlink(missing_ok=True)
                raise _invalid(
                    "file",
                    f"is more than the import limit of {size_text(limit)} "
                    "(setting FEEDBACK_IMPORT_MAX_BYTES)",
                )
            out.write(chunk)
    return size


class _Counted:
    """The stored file, counting the bytes read from it (the job's progress)."""

    def __init__(self, inner: IO[bytes]) -> None:
        self.inner = inner
        self.count = 0

    def read(self, size: int = -1, /) -> bytes:
        data = self.inner.read(size)
        self.count += len(data)
        return data


class _Progress:
    """Writes a job's progress through a connection outside the import's transaction."""

    def __init__(self, job_id: int, counted: _Counted) -> None:
        self.job_id = job_id
        self.counted = counted
        self.side = (
            None if connection.vendor == "sqlite" else connections.create_connection("default")
        )
        self.table = ImportJob._meta.db_table

    def __call__(self, rows: int) -> None:
        if self.side is None:
            return
        with self.side.cursor() as cursor:
            cursor.execute(
                f"UPDATE {self.table} SET rows_read = %s, bytes_read = %s, updated_at = %s "
                "WHERE id = %s",
                [rows, self.counted.count, timezone.now(), self.job_id],
            )

    def close(self) -> None:
        if self.side is not None:
            self.side.close()


def import_job_run(*, job_id: int) -> str:
    """Run one job (the Celery task's body); returns its status. Idempotent."""
    with transaction.atomic():
        job = ImportJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in ImportJob.FINISHED:
            return job.status if job else "missing"
        job.attempts += 1
        job.status = ImportJob.Status.RUNNING
        job.started_at = timezone.now()
        job.bytes_read = job.rows_read = 0
        job.save(update_fields=["attempts", "status", "started_at", "bytes_read", "rows_read"])
    path = Path(settings.IMPORT_DIR) / job.file_path
    started = time.monotonic()
    fields: dict[str, Any] = {}
    try:
        if not job.file_path or not path.is_file():
            raise _invalid("file", "the stored upload is gone; upload the file again")
        with path.open("rb") as raw:
            counted = _Counted(raw)
            progress = _Progress(job.pk, counted)
            try:
                result = items_import(
                    project=job.project,
                    source=counted,  # type: ignore[arg-type]
                    format=job.format,
                    source_name=job.source_name or None,
                    filename=job.filename or None,
                    progress=progress,
                )
            finally:
                progress.close()
        fields = {
            "status": ImportJob.Status.SUCCEEDED,
            "result": {
                "items_created": result.items_created,
                "items_existing": result.items_existing,
                "responses_created": result.responses_created,
                "judgements_created": result.judgements_created,
                "rows_read": result.rows_read,
                "rows_skipped": result.rows_skipped,
                "warnings": result.warnings,
            },
            "rows_read": result.rows_read,
            "bytes_read": counted.count,
            "message": f"Imported {result.items_created} new items "
            f"({result.items_existing} already there).",
        }
    except ApplicationError as error:
        details = error.details if isinstance(error.details, dict) else {}
        errors = details.get("errors")
        if errors is None:
            errors = [
                {"row": None, "field": field, "message": str(reasons[0] if reasons else "")}
                for field, reasons in details.items()
            ]
        fields = {
            "status": ImportJob.Status.FAILED,
            "errors": errors,
            "error_count": details.get("error_count", len(errors)),
            "message": error.message,
        }
    except Exception:
        logger.exception("import job %s failed", job.pk)
        if job.attempts < MAX_ATTEMPTS:
            raise  # the task retries it
        fields = {
            "status": ImportJob.Status.FAILED,
            "message": "The import failed on the server; the administrators have the log.",
        }
    fields["finished_at"] = timezone.now()
    ImportJob.objects.filter(pk=job.pk).update(**fields)
    path.unlink(missing_ok=True)
    logger.info(
        "import job %s %s in %.1f s: %s",
        job.pk,
        fields["status"],
        time.monotonic() - started,
        fields.get("message", ""),
    )
    return str(fields["status"])


def import_job_fail(*, job_id: int, message: str) -> None:
    """Mark an unfinished job failed (its task ran out of time)."""
    job = ImportJob.objects.filter(pk=job_id).exclude(status__in=ImportJob.FINISHED).first()
    if job is None:
        return
    ImportJob.objects.filter(pk=job.pk).update(
        status=ImportJob.Status.FAILED, message=message, finished_at=timezone.now()
    )
    (Path(settings.IMPORT_DIR) / job.file_path).unlink(missing_ok=True)
