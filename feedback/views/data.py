"""Project admins' data pages: import a file, export and snapshot the judgements.

The pages are shells around the REST API, which already is the door onto the import and
export services (with their permissions, limits and error shape): the page script
(``static/feedback/admin.js``) uploads with progress, lists every row error the API
reports, previews and downloads the export and makes snapshots.
"""

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from feedback.access import EXPORTING_ROLES, MANAGING_ROLES
from feedback.export.params import (
    AGGREGATES,
    FORMATS,
    MARGIN_MODES,
    PAIR_MODES,
    SOURCES,
    SPLITS,
    WEIGHTS,
)
from feedback.models import Item, Project
from feedback.services.imports import IMPORT_FORMATS
from feedback.views.access import page_access


def _project(request: HttpRequest, slug: str, roles: tuple[str, ...], what: str) -> Project:
    return page_access(
        request, slug, roles, denied=f"Your role in this project may not {what}."
    ).project


@login_required
@require_GET
def project_import(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, MANAGING_ROLES, "import items")
    return render(
        request,
        "feedback/project_import.html",
        {
            "project": project,
            "formats": IMPORT_FORMATS,
            "item_count": Item.objects.filter(project=project).count(),
            "api_url": f"/api/projects/{project.slug}/imports/",
        },
    )


@login_required
@require_GET
def project_export(request: HttpRequest, slug: str) -> HttpResponse:
    project = _project(request, slug, EXPORTING_ROLES, "export")
    return render(
        request,
        "feedback/project_export.html",
        {
            "project": project,
            "formats": FORMATS,
            "pair_modes": PAIR_MODES,
            "margin_modes": MARGIN_MODES,
            "weights": WEIGHTS,
            "aggregates": AGGREGATES,
            "sources": SOURCES,
            "splits": SPLITS,
            "export_url": f"/api/projects/{project.slug}/export/",
            "snapshots_url": f"/api/projects/{project.slug}/snapshots/",
        },
    )
