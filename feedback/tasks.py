"""Celery tasks of the feedback app: thin doors onto the services (``default`` queue).

Each task imports its service inside its body (HackSoft's Celery guidance): the services
send these tasks, so this module loads none of them when it is imported.
"""

from typing import Any

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings


@shared_task(name="feedback.tasks.assignments_expire")
def assignments_expire() -> int:
    """Mark the leases that ran out as expired (bookkeeping; see the service)."""
    # the service is imported when the task runs (HackSoft's Celery guidance: a worker
    # loads every task module at start, services never import tasks)
    from feedback.services.assignments import assignments_expire as assignments_expire_service

    return assignments_expire_service()


@shared_task(name="feedback.tasks.project_render")
def project_render(project_id: int) -> tuple[int, int]:
    """Render the project's prompts and responses that have no stored rendering yet."""
    # imported when the task runs (see assignments_expire)
    from feedback.services.rendering import project_render as project_render_service

    return project_render_service(project_id=project_id)


@shared_task(
    name="feedback.tasks.import_run",
    bind=True,
    max_retries=2,
    default_retry_delay=5,
    soft_time_limit=settings.IMPORT_TIME_LIMIT,
    time_limit=settings.IMPORT_TIME_LIMIT + 60,
)
def import_run(self: Any, job_id: int) -> str:
    """Import a stored upload (a background import job); idempotent."""
    # imported when the task runs (see assignments_expire)
    from feedback.services.import_jobs import import_job_fail, import_job_run

    try:
        return import_job_run(job_id=job_id)
    except SoftTimeLimitExceeded:
        limit = settings.IMPORT_TIME_LIMIT
        import_job_fail(job_id=job_id, message=f"The import ran longer than {limit} s.")
        return "failed"
    except Exception as exc:
        raise self.retry(exc=exc) from exc
