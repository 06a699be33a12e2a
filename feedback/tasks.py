"""Celery tasks of the feedback app: thin doors onto the services (``default`` queue)."""

from celery import shared_task

from feedback.services.assignments import assignments_expire as assignments_expire_service
from feedback.services.rendering import project_render as project_render_service


@shared_task(name="feedback.tasks.assignments_expire")
def assignments_expire() -> int:
    """Mark the leases that ran out as expired (bookkeeping; see the service)."""
    return assignments_expire_service()


@shared_task(name="feedback.tasks.project_render")
def project_render(project_id: int) -> tuple[int, int]:
    """Render the project's prompts and responses that have no stored rendering yet."""
    return project_render_service(project_id=project_id)
