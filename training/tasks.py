"""Celery tasks: thin doors onto the services. Each takes ids and re-reads the rows.

``job_run`` goes to the ``gpu`` queue (training, generation, evaluation); the reaper and
the retrain checks go to ``default`` (see CELERY_TASK_ROUTES). Job state is in Postgres;
results are ignored.
"""

import logging

from celery import shared_task

from feedback.models import Project
from training.services.execution import job_execute
from training.services.jobs import jobs_reap as jobs_reap_service
from training.services.retrain import retrain_check as retrain_check_service
from training.services.retrain import retrain_task_name

logger = logging.getLogger(__name__)


@shared_task(name="training.tasks.job_run", acks_late=True, reject_on_worker_lost=True)
def job_run(job_id: int) -> str:
    """Claim and run job ``job_id``; a second delivery of a claimed job does nothing."""
    return job_execute(job_id=job_id)


@shared_task(name="training.tasks.jobs_reap")
def jobs_reap() -> list[int]:
    """Re-queue (or fail) running jobs whose heartbeat stopped."""
    return jobs_reap_service()


@shared_task(name="training.tasks.retrain_check")
def retrain_check(project_id: int) -> int | None:
    """Beat entry per project: start a retrain run if enough new judgements arrived."""
    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        logger.warning("retrain check for a project that is gone (%s)", project_id)
        return None
    run = retrain_check_service(
        project=project, launched_by=f"schedule:{retrain_task_name(project)}"
    )
    return run.pk if run is not None else None


@shared_task(name="training.tasks.items_score", acks_late=True, reject_on_worker_lost=True)
def items_score(project_id: int, item_ids: list[int] | None = None) -> int:
    """Score items for the uncertainty policy with the promoted reward model."""
    from training.services.uncertainty import items_score_uncertainty

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    return items_score_uncertainty(project=project, item_ids=item_ids)
