"""Projects and their members."""

import copy
from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError, transaction

from core.errors import Conflict, ValidationError
from feedback.models import Judgement, Membership, Project

_NOT_SETTINGS = {"id", "name", "slug", "created_at", "updated_at", "gold_items"}


def _settings_check(settings: dict[str, Any], *, also: frozenset[str] = frozenset()) -> None:
    allowed = ({f.name for f in Project._meta.concrete_fields} - _NOT_SETTINGS) | also
    unknown = sorted(set(settings) - allowed)
    if unknown:
        raise ValidationError(
            f"Unknown project settings: {', '.join(unknown)}.",
            details={key: ["unknown project setting"] for key in unknown},
        )


def _clean(project: Project) -> None:
    try:
        project.full_clean()
    except DjangoValidationError as exc:
        details = exc.message_dict
        first_field, reasons = next(iter(details.items()))
        raise ValidationError(f"{first_field}: {reasons[0]}", details=details) from exc


def project_create(*, name: str, slug: str, **settings: Any) -> Project:
    """Create a project; ``settings`` are Project fields (mode, overlap, ask_ratings, ...).

    ValidationError names each bad field; Conflict when the slug is taken.
    """
    _settings_check(settings)
    if Project.objects.filter(slug=slug).exists():
        raise Conflict(f"A project with slug '{slug}' already exists.", details={"slug": [slug]})
    project = Project(name=name, slug=slug, **settings)
    _clean(project)
    try:
        with transaction.atomic():
            project.save()
    except IntegrityError as exc:  # a concurrent create took the slug
        raise Conflict(f"A project with slug '{slug}' already exists.") from exc
    return project


def project_update(*, project: Project, **changes: Any) -> Project:
    """Change a project's name and settings (the slug, its address, stays).

    The rules hold for the judgements already made, so a change that would reinterpret
    them is refused: the mode (a pairwise verdict is not a k-way ranking) once the project
    has judgements, and a rating scale once ratings were given on it (Conflict). A
    smaller overlap or a longer lease applies to what is handed out from now on.
    ValidationError names each bad field; nothing is saved unless everything is valid.
    """
    _settings_check(changes, also=frozenset({"name"}))
    changed = [name for name, value in changes.items() if getattr(project, name) != value]
    if not changed:
        return project
    project_locked_check(project=project, changed=changed)
    updated = copy.copy(project)  # the caller's instance stays as it was if this fails
    for name in changed:
        setattr(updated, name, changes[name])
    _clean(updated)
    updated.save(update_fields=[*changed, "updated_at"])
    return updated


def project_locked_fields(*, project: Project) -> list[str]:
    """The settings that can no longer change, because judgements already depend on them:
    the mode once the project has judgements, the rating scale once ratings were given."""
    judged = Judgement.objects.filter(item__project=project)
    if not judged.exists():
        return []
    return ["mode", *(["rating_scale"] if judged.exclude(ratings={}).exists() else [])]


def project_locked_check(*, project: Project, changed: list[str]) -> None:
    """Conflict when ``changed`` touches a setting of ``project_locked_fields``."""
    locked = project_locked_fields(project=project) if project.pk else []
    if "mode" in changed and "mode" in locked:
        raise Conflict(
            "The mode cannot change once the project has judgements.",
            code="mode_locked",
            details={"mode": ["the project has judgements"]},
        )
    if "rating_scale" in changed and "rating_scale" in locked:
        raise Conflict(
            "The rating scale cannot change once ratings were given.",
            code="rating_scale_locked",
            details={"rating_scale": ["the project has ratings"]},
        )


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
