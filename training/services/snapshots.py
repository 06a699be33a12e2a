"""Dataset snapshots: STAND-IN until issue 4's ``snapshot_create`` (same signature, see
notes/feedback-contract.md) is merged; then this module becomes that implementation.

A snapshot writes the export of ``params`` to a JSONL file under SNAPSHOT_DIR, once, and
records its row count, size and SHA-256, so a model can name exactly the data it saw.
"""

import os
from collections.abc import Mapping
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import User
from django.utils import timezone

from feedback.export import ExportStream, export_params_parse
from feedback.models import Project
from training.models import DatasetSnapshot


def snapshot_file(snapshot: DatasetSnapshot) -> Path:
    """The absolute path of the snapshot's JSONL file."""
    return Path(settings.SNAPSHOT_DIR) / snapshot.path


def snapshot_create(
    *, project: Project, params: Mapping[str, object], user: User | None = None
) -> DatasetSnapshot:
    """Validate ``params`` (export parameters), write the export and return a READY snapshot."""
    parsed = export_params_parse(params)
    snapshot = DatasetSnapshot.objects.create(
        project=project,
        format=parsed.format,
        params=parsed.as_query(),
        created_by=user if user is not None and user.is_authenticated else None,
    )
    relative = Path(project.slug) / f"snapshot-{snapshot.pk}.jsonl"
    target = Path(settings.SNAPSHOT_DIR) / relative
    target.parent.mkdir(parents=True, exist_ok=True)
    stream = ExportStream(project=project, params=parsed)
    tmp = target.with_suffix(".tmp")
    with tmp.open("wb") as out:
        for chunk in stream:
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    tmp.replace(target)
    snapshot.path = str(relative)
    snapshot.row_count = stream.row_count
    snapshot.byte_size = stream.byte_size
    snapshot.sha256 = stream.sha256
    snapshot.status = DatasetSnapshot.Status.READY
    snapshot.finished_at = timezone.now()
    snapshot.save(
        update_fields=["path", "row_count", "byte_size", "sha256", "status", "finished_at"]
    )
    return snapshot
