"""Reads of the training app. Snapshots are scoped by the projects a user may export from
(``feedback.selectors.projects_for_user`` with the exporting roles)."""

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from core.errors import NotFound
from feedback.models import Project
from feedback.selectors import EXPORTING_ROLES, projects_for_user
from training.models import DatasetSnapshot

User = AbstractBaseUser | AnonymousUser


def snapshots_for_user(*, user: User, project: Project | None = None) -> QuerySet[DatasetSnapshot]:
    """Snapshots of the projects ``user`` may export from (staff: all)."""
    projects = projects_for_user(user=user, roles=EXPORTING_ROLES)
    snapshots = DatasetSnapshot.objects.filter(project__in=projects.values("pk"))
    if project is not None:
        snapshots = snapshots.filter(project=project)
    return snapshots.select_related("project", "created_by")


def snapshot_get_for_user(*, user: User, project: Project, snapshot_id: int) -> DatasetSnapshot:
    snapshot = snapshots_for_user(user=user, project=project).filter(pk=snapshot_id).first()
    if snapshot is None:
        raise NotFound(f"No snapshot {snapshot_id} in project '{project.slug}'.")
    return snapshot
