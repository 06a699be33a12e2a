"""The agreement page for project admins: the agreement report's figures (alpha, kappa,
per-annotator and per-pair figures) and a chart of each annotator's reliability, mean
tau-b and gold accuracy (uPlot, vendored). The same cached report as the API
(``project_agreement_cached``): a repeat visit costs one aggregate query and a cache read."""

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from feedback.access import MANAGING_ROLES
from feedback.quality.agreement import project_agreement_cached
from feedback.views.access import page_access


@login_required
@require_GET
def agreement(request: HttpRequest, slug: str) -> HttpResponse:
    project = page_access(request, slug, MANAGING_ROLES, "see agreement").project
    report, cached = project_agreement_cached(project=project)
    figures = report.as_dict()
    chart: dict[str, Any] = {
        "annotators": [a["username"] for a in figures["annotators"]],
        "series": [
            {"label": "reliability", "values": [a["reliability"] for a in figures["annotators"]]},
            {"label": "mean tau-b", "values": [a["tau_b_mean"] for a in figures["annotators"]]},
            {
                "label": "gold accuracy",
                "values": [a["gold_accuracy"] for a in figures["annotators"]],
            },
        ],
    }
    return render(
        request,
        "feedback/agreement.html",
        {
            "project": project,
            "figures": figures,
            "pairwise": "kappa" in figures,
            "chart_json": json.dumps(chart),
            "cached": cached,
        },
    )
