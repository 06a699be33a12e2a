"""Celery tasks: thin doors onto the services. Each takes ids and re-reads the rows.

``job_run`` goes to the ``gpu`` queue (training, generation, evaluation); the reaper, the
retrain checks and the retrain advances go to ``default`` (see CELERY_TASK_ROUTES). Job
state is in Postgres; results are ignored.

Each task imports its service inside its body (HackSoft's Celery guidance): the services
send these tasks, so this module loads none of them when it is imported.
"""

import logging

from celery import shared_task

from feedback.models import Project

logger = logging.getLogger(__name__)


@shared_task(name="training.tasks.job_run", acks_late=True, reject_on_worker_lost=True)
def job_run(job_id: int) -> str:
    """Claim and run job ``job_id``; a second delivery of a claimed job does nothing."""
    # the service is imported when the task runs (tasks import services, never back)
    from training.services.execution import job_execute

    return job_execute(job_id=job_id)


@shared_task(name="training.tasks.jobs_reap")
def jobs_reap() -> list[int]:
    """Re-queue (or fail) running jobs whose heartbeat stopped."""
    # the service is imported when the task runs (tasks import services, never back)
    from training.services.jobs import jobs_reap as jobs_reap_service

    return jobs_reap_service()


@shared_task(name="training.tasks.retrain_check")
def retrain_check(project_id: int) -> int | None:
    """Beat entry per project: advance a run whose job ended, or start a retrain run if
    enough new judgements arrived."""
    # the service is imported when the task runs (tasks import services, never back)
    from training.services.retrain import retrain_check as retrain_check_service
    from training.services.retrain import retrain_task_name

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        logger.warning("retrain check for a project that is gone (%s)", project_id)
        return None
    run = retrain_check_service(
        project=project, launched_by=f"schedule:{retrain_task_name(project)}"
    )
    return run.pk if run is not None else None


@shared_task(name="training.tasks.retrain_advance", acks_late=True)
def retrain_advance(run_id: int) -> str:
    """A job of retrain run ``run_id`` ended: move the run to its next stage (idempotent)."""
    # the service is imported when the task runs (tasks import services, never back)
    from training.services.retrain import retrain_advance as retrain_advance_service

    return retrain_advance_service(run_id=run_id)


@shared_task(name="training.tasks.items_score", acks_late=True, reject_on_worker_lost=True)
def items_score(project_id: int, item_ids: list[int] | None = None) -> int:
    """Score items for the uncertainty policy with the promoted reward model."""
    # the service is imported when the task runs (tasks import services, never back)
    from training.services.uncertainty import items_score_uncertainty

    project = Project.objects.filter(pk=project_id).first()
    if project is None:
        return 0
    return items_score_uncertainty(project=project, item_ids=item_ids)
