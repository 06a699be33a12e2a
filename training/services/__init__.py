"""Writes of the training app, one module per domain: ``snapshots`` (immutable datasets),
``jobs`` (launch, cancel, retry, reap), ``execution`` (what the worker does with a claimed
job), ``registry`` (model versions, promotion, rollback) and ``retrain`` (the per-project
retraining loop).

Every door (API, pages, admin actions, management commands, Celery tasks) calls these.
"""

from training.services.jobs import job_cancel, job_create, job_retry, jobs_reap
from training.services.registry import model_promote, model_rollback
from training.services.retrain import retrain_check, retrain_policy_save
from training.services.snapshots import snapshot_create, snapshot_file

__all__ = [
    "job_cancel",
    "job_create",
    "job_retry",
    "jobs_reap",
    "model_promote",
    "model_rollback",
    "retrain_check",
    "retrain_policy_save",
    "snapshot_create",
    "snapshot_file",
]
