"""Training data model: immutable dataset snapshots that every training job reads.

Training never reads the live feedback tables: a snapshot is written once, with its
parameters, row count, size and SHA-256, so each model can name the exact data it saw.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q

from feedback.models import Project


class DatasetSnapshot(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Being written"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="snapshots")
    format = models.CharField(max_length=32)
    params = models.JSONField(default=dict, help_text="The export parameters, as given.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    path = models.CharField(
        max_length=500, blank=True, help_text="JSONL file, relative to SNAPSHOT_DIR."
    )
    parquet_path = models.CharField(max_length=500, blank=True)
    row_count = models.PositiveBigIntegerField(null=True, blank=True)
    byte_size = models.PositiveBigIntegerField(null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(status="ready") | (Q(row_count__isnull=False) & ~Q(sha256="")),
                name="snapshot_ready_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return f"snapshot {self.pk} of {self.project.slug} ({self.format})"
