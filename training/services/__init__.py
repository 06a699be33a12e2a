"""Writes of the training app, one module per domain (``snapshots`` here).

Every door (API, pages, management commands, Celery tasks) calls these.
"""

from training.services.snapshots import snapshot_create, snapshot_file

__all__ = ["snapshot_create", "snapshot_file"]
