"""REST API of the training app, one module per domain: ``snapshots`` (immutable datasets)
and ``jobs`` (training jobs, the model registry, retrain policies)."""

from training.api.jobs import (
    JobCancel,
    JobDetail,
    JobKinds,
    JobListCreate,
    JobRetry,
    ModelDetail,
    ModelDownload,
    ModelList,
    ModelPromote,
    ModelRollback,
    RetrainCheckNow,
    RetrainPolicyDetail,
)
from training.api.snapshots import SnapshotDetailView, SnapshotDownloadView, SnapshotListView

__all__ = [
    "JobCancel",
    "JobDetail",
    "JobKinds",
    "JobListCreate",
    "JobRetry",
    "ModelDetail",
    "ModelDownload",
    "ModelList",
    "ModelPromote",
    "ModelRollback",
    "RetrainCheckNow",
    "RetrainPolicyDetail",
    "SnapshotDetailView",
    "SnapshotDownloadView",
    "SnapshotListView",
]
