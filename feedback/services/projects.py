"""Projects and their members."""

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationError
from feedback.models import Membership, Project

_NOT_SETTINGS = {"id", "name", "slug", "created_at", "updated_at"}


def project_create(*, name: str, slug: str, **settings: Any) -> Project:
    """Create a project; ``settings`` are Project fields (mode, overlap, ask_ratings, ...).

    ValidationError names each bad field; Conflict when the slug is taken.
    """
    allowed = {f.name for f in Project._meta.concrete_fields} - _NOT_SETTINGS
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ValidationError(
            f"Unknown project settings: {', '.join(unknown)}.",
            details={key: ["unknown project setting"] for key in unknown},
        )
    if Project.objects.filter(slug=slug).exists():
        raise Conflict(f"A project with slug '{slug}' already exists.", details={"slug": [slug]})
    project = Project(name=name, slug=slug, **settings)
    try:
        project.full_clean()
    except DjangoValidationError as exc:
        details = exc.message_dict
        first_field, reasons = next(iter(details.items()))
        raise ValidationError(f"{first_field}: {reasons[0]}", details=details) from exc
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:  # a concurrent create took the slug
        raise Conflict(f"A project with slug '{slug}' already exists.") from exc
    return project


def membership_set(*, project: Project, user: User, role: str) -> Membership:
    """Make ``user`` a member of ``project`` with ``role`` (changing the role if a member)."""
    if role not in Membership.Role.values:
        raise ValidationError(
            f"role: must be one of {', '.join(Membership.Role.values)}",
            details={"role": [f"must be one of {', '.join(Membership.Role.values)}"]},
        )
    membership, _ = Membership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def membership_remove(*, membership: Membership) -> None:
    """Take a member out of a project. Their judgements stay (and still export)."""
    membership.delete()
