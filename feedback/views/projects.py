"""Project admins' pages: the list of projects they run, create a project, its settings,
its members. Thin doors onto ``feedback.services.projects``: a Django form only turns
the posted text into values; the service's rules (and its errors, field by field) decide.
"""

from typing import Any, cast

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from core.errors import ApplicationError, Conflict, ValidationError
from feedback.access import MANAGING_ROLES
from feedback.models import Judgement, Membership, Project
from feedback.rendering import markdown_render_html
from feedback.selectors import projects_for_user
from feedback.services.members import member_find
from feedback.services.projects import (
    membership_remove,
    membership_set,
    project_create,
    project_update,
)
from feedback.views.access import page_access
from feedback.views.responses import json_view

SETTINGS_FIELDS = (
    "name",
    "description",
    "guidelines",
    "mode",
    "overlap",
    "lease_minutes",
    "order",
    "ask_ratings",
    "rating_scale",
    "rationale",
    "responses_per_item",
    "round_compare",
)
# Gold settings: optional in the form (a form posted without them keeps the defaults).
GOLD_FIELDS = ("gold_rate", "gold_threshold", "gold_stop")


class ProjectForm(forms.ModelForm):
    """Coerces what was typed; the service checks the rules (mode locked, ranges...)."""

    class Meta:
        model = Project
        fields = ["slug", *SETTINGS_FIELDS, *GOLD_FIELDS]
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "guidelines": forms.Textarea(attrs={"rows": 8, "class": "md-source"}),
        }
        help_texts = {
            "slug": "The project's address (/p/<slug>/): letters, digits, - and _; fixed.",
            "mode": "Rank: order k answers (ties allowed). Pairwise: A, B, tie or both bad.",
            "overlap": "How many annotators judge each item.",
            "lease_minutes": "How long an item stays reserved for the annotator who opened it.",
            "rationale": "Whether annotators write why.",
            "gold_rate": "Share of each annotator's items that are gold checks, 0 to 1 "
            "(0.05: one in twenty). Gold items are served blind, once per annotator.",
            "gold_threshold": "Flag annotators whose gold accuracy is below this, 0 to 1 "
            "(empty: never).",
            "gold_stop": "Serve no new items to flagged annotators (they see why).",
        }

    # The database's check constraints, said in words before the service is asked.
    BOUNDS = {"overlap": (1, 1000), "lease_minutes": (1, 10080), "rating_scale": (2, 100)}
    BOUNDS_RESPONSES = (2, 26)

    def __init__(self, *args: Any, editing: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if editing:
            del self.fields["slug"]
        bounds = {**self.BOUNDS, "responses_per_item": self.BOUNDS_RESPONSES}
        for name, (low, high) in bounds.items():
            field = self.fields[name]
            assert isinstance(field, forms.IntegerField)
            field.min_value, field.max_value = low, high
            field.validators = [
                MinValueValidator(low),
                MaxValueValidator(high),
            ]
            field.widget.attrs.update({"min": low, "max": high})
        self.fields["gold_rate"].required = False
        for name in ("gold_rate", "gold_threshold"):
            self.fields[name].widget.attrs.update({"min": 0, "max": 1, "step": "0.01"})

    def _post_clean(self) -> None:
        """No model validation here: the service validates (one set of rules)."""


def _user(request: HttpRequest) -> User:
    return cast(User, request.user)


def _gold_values(form: forms.BaseForm) -> dict[str, Any]:
    """The gold settings typed in (an empty rate: left as it is)."""
    values = {name: form.cleaned_data.get(name) for name in GOLD_FIELDS}
    if values["gold_rate"] is None:
        del values["gold_rate"]
    return values


def _managed_project(request: HttpRequest, slug: str) -> Project:
    """The project if the user may manage it: 404 for outsiders, 403 for other members."""
    return page_access(
        request, slug, MANAGING_ROLES, denied="Only the project's admins may do this."
    ).project


def _apply_errors(form: forms.BaseForm, error: ApplicationError) -> None:
    """Put a service error on the fields it names (others on the form as a whole)."""
    details = error.details if isinstance(error.details, dict) else {}
    if isinstance(error, Conflict):
        # A conflict's details name the field; its message says why in words.
        field = next((name for name in details if name in form.fields), None)
        form.add_error(field, error.message)
        return
    placed = False
    for name, reasons in details.items():
        field = name if name in form.fields else None
        for reason in reasons if isinstance(reasons, list) else [reasons]:
            form.add_error(field, str(reason) if field else f"{name}: {reason}")
            placed = True
    if not placed:
        form.add_error(None, error.message)


@login_required
@require_GET
def projects_manage(request: HttpRequest) -> HttpResponse:
    """The projects this person runs, with their counts and every page that manages them."""
    user = _user(request)
    projects = (
        projects_for_user(user=user, roles=MANAGING_ROLES)
        .annotate(
            item_count=Count("items", distinct=True),
            member_count=Count("memberships", distinct=True),
        )
        .order_by("name")
    )
    if not user.is_staff and not projects.exists():
        raise DjangoPermissionDenied("You run no project.")
    return render(
        request,
        "feedback/projects_manage.html",
        {"projects": projects, "may_create": user.is_staff},
    )


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    """Create a project (staff, as the API allows), then add its members."""
    user = _user(request)
    if not user.is_staff:
        raise DjangoPermissionDenied("Only staff may create projects.")
    form = ProjectForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        values = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS}
        values.update(_gold_values(form))
        try:
            project = project_create(slug=form.cleaned_data["slug"], **values)
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            membership_set(project=project, user=user, role=Membership.Role.ADMIN)
            messages.success(request, f"Created {project.name}. Add its annotators next.")
            return redirect("project-members", slug=project.slug)
    return render(request, "feedback/project_form.html", {"form": form, "project": None})


@login_required
@require_http_methods(["GET", "POST"])
def project_settings(request: HttpRequest, slug: str) -> HttpResponse:
    """Change a project's name and settings; the mode and rating scale lock with data."""
    project = _managed_project(request, slug)
    judged = Judgement.objects.filter(item__project=project)
    locks: dict[str, str] = {}
    if judged.exists():
        locks["mode"] = "The mode is fixed: the project has judgements, made under this mode."
    if judged.exclude(ratings={}).exists():
        locks["rating_scale"] = "The rating scale is fixed: ratings were given on it."
    form = ProjectForm(request.POST or None, instance=project, editing=True)
    for name, reason in locks.items():
        form.fields[name].disabled = True
        form.fields[name].help_text = reason
    if request.method == "POST" and form.is_valid():
        changes = {name: form.cleaned_data[name] for name in SETTINGS_FIELDS if name not in locks}
        changes.update(_gold_values(form))
        try:
            project = project_update(project=Project.objects.get(pk=project.pk), **changes)
        except ApplicationError as error:
            _apply_errors(form, error)
        else:
            messages.success(request, "Settings saved.")
            return redirect("project-settings", slug=project.slug)
    return render(
        request,
        "feedback/project_form.html",
        {"form": form, "project": project, "locks": locks},
    )


@require_POST
@json_view
def markdown_preview(request: HttpRequest) -> HttpResponse:
    """JSON: the guidelines as annotators will see them (the same sanitising renderer)."""
    if not projects_for_user(user=_user(request), roles=MANAGING_ROLES).exists() and not (
        _user(request).is_staff
    ):
        raise ValidationError("Only project admins preview guidelines.")
    text = request.POST.get("text", "")
    if len(text) > 200_000:
        raise ValidationError("text: too long", details={"text": ["at most 200000 characters"]})
    return JsonResponse({"html": markdown_render_html(text) if text.strip() else ""})


def _find_user(request: HttpRequest, text: str) -> User:
    """An account the admin may add, by username or e-mail (``feedback.services.members``)."""
    return member_find(actor=_user(request), name=text, field="user", by_email=True)


@login_required
@require_http_methods(["GET", "POST"])
def project_members(request: HttpRequest, slug: str) -> HttpResponse:
    """Add members (by username or e-mail of an existing account), change roles, remove."""
    project = _managed_project(request, slug)
    error_text = ""
    typed = {"user": "", "role": Membership.Role.ANNOTATOR}
    if request.method == "POST":
        action = request.POST.get("action", "add")
        try:
            if action == "add":
                typed = {
                    "user": request.POST.get("user", ""),
                    "role": request.POST.get("role", ""),
                }
                member = _find_user(request, typed["user"])
                existed = project.memberships.filter(user=member).exists()
                membership_set(project=project, user=member, role=typed["role"])
                verb = "is now" if existed else "joined as"
                messages.success(request, f"{member.username} {verb} {typed['role']}.")
                return redirect("project-members", slug=slug)
            membership = project.memberships.select_related("user").filter(
                pk=request.POST.get("membership") or 0
            )
            found = membership.first()
            if found is None:
                raise ValidationError("That person is no longer a member.")
            if action == "role":
                membership_set(project=project, user=found.user, role=request.POST.get("role", ""))
                messages.success(request, f"{found.user.username} is now {request.POST['role']}.")
            elif action == "remove":
                if found.user_id == request.user.pk and not _user(request).is_staff:
                    raise ValidationError("You cannot remove yourself: ask another admin.")
                membership_remove(membership=found)
                messages.success(
                    request,
                    f"Removed {found.user.username}. Their judgements stay in the project.",
                )
            else:
                raise ValidationError(f"Unknown action '{action[:20]}'.")
            return redirect("project-members", slug=slug)
        except ApplicationError as error:
            details = error.details if isinstance(error.details, dict) else {}
            reasons = [f"{reason}" for values in details.values() for reason in values]
            error_text = "; ".join(reasons) or error.message
    members = (
        project.memberships.select_related("user")
        .annotate(
            judged=Count(
                "user__judgements",
                filter=Q(
                    user__judgements__item__project=project, user__judgements__is_current=True
                ),
            )
        )
        .order_by("user__username")
    )
    return render(
        request,
        "feedback/project_members.html",
        {
            "project": project,
            "members": members,
            "roles": Membership.Role.choices,
            "error": error_text,
            "typed": typed,
        },
    )
