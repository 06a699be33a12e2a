"""A file import run in the background: its file, its progress and its outcome.

Kept apart from ``feedback.models`` (which imports it, so Django registers it with the
app), as ``review_models`` is: the import's job state is a concern of its own, read and
written only by ``feedback.services.import_jobs``.
"""

from django.conf import settings
from django.db import models

from core.models import TimeStampedModel


class ImportJob(TimeStampedModel):
    """A file import run in the background (``feedback.services.import_jobs``): the
    uploaded file waits under ``FEEDBACK_IMPORT_DIR`` until a worker imports it; the row
    carries its progress, its result or its row errors."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    FINISHED = (Status.SUCCEEDED, Status.FAILED)

    project = models.ForeignKey(
        "feedback.Project", on_delete=models.CASCADE, related_name="import_jobs"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    format = models.CharField(max_length=16)
    source_name = models.CharField(max_length=100, blank=True)
    filename = models.CharField(max_length=255, blank=True)
    file_path = models.CharField(max_length=500, blank=True, help_text="Under the import dir.")
    file_bytes = models.BigIntegerField(default=0)
    bytes_read = models.BigIntegerField(default=0)
    rows_read = models.BigIntegerField(default=0)
    result = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)
    error_count = models.PositiveIntegerField(default=0)
    message = models.TextField(blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["project", "-id"], name="importjob_project_newest")]

    def __str__(self) -> str:
        return f"import {self.pk} into {self.project_id} ({self.status})"
