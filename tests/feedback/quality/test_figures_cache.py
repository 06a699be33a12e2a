"""Agreement and the leaderboard are computed once per state of the project's judgements
and kept in the shared cache (Redis in the tests): a second read is a hit with the same
figures; a judgement written, edited or no longer current gives a new state, and fresh
figures."""

import io
import re
from typing import Any

import orjson
import pytest
from django.test import Client

from feedback.leaderboard import project_leaderboard_cached
from feedback.models import Item, Judgement, Membership, Project
from feedback.quality.agreement import project_agreement_cached
from feedback.selectors import project_judgement_state
from feedback.services.assignments import assignment_next
from feedback.services.imports import items_import
from feedback.services.judgements import judgement_submit
from tests.factories import project_make, user_make
from tests.feedback.api.conftest import client_for

pytestmark = pytest.mark.django_db


def _import(project: Project, rows: list[dict[str, Any]]) -> None:
    data = b"\n".join(orjson.dumps(row) for row in rows)
    items_import(project=project, source=io.BytesIO(data), format="native", source_name="lab")


def _project(slug: str) -> Project:
    project = project_make(slug=slug, overlap=3)
    rows = [
        {
            "external_id": f"q{n}",
            "prompt": f"Question {n}?",
            "responses": [
                {"content": f"first answer {n}", "model": "model-a"},
                {"content": f"second answer {n}", "model": "model-b"},
            ],
            "judgements": [
                {"annotator": "a", "ranking": [[0], [1]]},
                {"annotator": "b", "ranking": [[0], [1]] if n % 4 else [[1], [0]]},
            ],
        }
        for n in range(12)
    ]
    _import(project, rows)
    return project


def _judge_all(project: Project, username: str, *, prefer: int) -> None:
    """A new annotator judges every item, preferring response ``prefer`` (0 or 1)."""
    user = user_make(username, project=project)
    while (lease := assignment_next(project=project, user=user)) is not None:
        ids = list(lease.item.responses.order_by("position").values_list("pk", flat=True))
        judgement_submit(user=user, item=lease.item, ranking=[[ids[prefer]], [ids[1 - prefer]]])


def test_agreement_is_cached_until_a_judgement_is_written() -> None:
    project = _project("cached-agree")
    first, hit = project_agreement_cached(project=project, samples=50)
    assert not hit
    again, hit = project_agreement_cached(project=project, samples=50)
    assert hit and again.as_dict() == first.as_dict()
    state = project_judgement_state(project=project)
    _judge_all(project, "contrarian", prefer=1)
    assert project_judgement_state(project=project) != state
    fresh, hit = project_agreement_cached(project=project, samples=50)
    assert not hit
    assert len(fresh.annotators) == 3 and fresh.alpha.value != first.alpha.value


def test_a_judgement_leaving_the_current_set_changes_the_state() -> None:
    project = _project("cached-reject")
    project_agreement_cached(project=project, samples=0)
    state = project_judgement_state(project=project)
    # What a rejection or a new version does to the old one: it is no longer counted.
    judgement = Judgement.objects.filter(item__project=project).order_by("id").first()
    assert judgement is not None
    Judgement.objects.filter(pk=judgement.pk).update(is_current=False)
    assert project_judgement_state(project=project) != state
    report, hit = project_agreement_cached(project=project, samples=0)
    assert not hit and report.judgements == 23


def test_the_agreement_endpoint_serves_the_cached_report_with_fresh_gold_figures() -> None:
    project = _project("cached-api")
    admin = user_make("boss", project=project, role=Membership.Role.ADMIN)
    url = "/api/projects/cached-api/agreement/?samples=20"
    cold = client_for(admin).get(url).json()
    warm = client_for(admin).get(url).json()
    assert warm == cold
    item = Item.objects.filter(project=project).order_by("id").first()
    assert item is not None
    ids = list(item.responses.order_by("position").values_list("pk", flat=True))
    Item.objects.filter(pk=item.pk).update(is_gold=True, gold_ranking=[[ids[0]], [ids[1]]])
    gold = client_for(admin).get(url).json()
    accuracy = {a["username"]: a["gold_accuracy"] for a in gold["annotators"]}
    assert accuracy == {"import:lab/a": 1.0, "import:lab/b": -1.0}  # tau-b with the gold


def test_the_leaderboard_is_cached_until_a_judgement_is_written() -> None:
    project = _project("cached-board")
    board, hit = project_leaderboard_cached(project=project, rounds=20)
    assert not hit and [s.model for s in board.standings] == ["model-a", "model-b"]
    again, hit = project_leaderboard_cached(project=project, rounds=20)
    assert hit and again.standings == board.standings
    _judge_all(project, "fan-of-b", prefer=1)
    _judge_all(project, "fan-of-b-too", prefer=1)
    fresh, hit = project_leaderboard_cached(project=project, rounds=20)
    assert not hit and fresh.comparisons == board.comparisons + 24
    assert [s.model for s in fresh.standings] == ["model-b", "model-a"]


def test_the_agreement_page_shows_the_figures_and_is_linked_from_the_dashboard() -> None:
    project = _project("agree-page")
    admin = user_make("boss", project=project, role=Membership.Role.ADMIN)
    client = Client()
    client.force_login(admin)
    dashboard = client.get("/p/agree-page/dashboard/").content.decode()
    assert 'href="/p/agree-page/agreement/"' in dashboard
    page = client.get("/p/agree-page/agreement/")
    assert page.status_code == 200
    html = page.content.decode()
    report, hit = project_agreement_cached(project=project)
    assert hit  # the page computed it; the API and the page share the cached report
    assert f"{report.alpha.value:.3f}" in html
    assert html.count("import:lab/") >= 4  # two annotators in the table, one pair
    assert 'id="agreement-chart"' in html and "uPlot.iife.min.js" in html
    raw = html.split('data-chart="')[1].split('"')[0]
    chart = orjson.loads(raw.replace("&quot;", '"').replace("&#x27;", "'").replace("&amp;", "&"))
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None  # no inline script (CSP)
    assert chart["annotators"] == ["import:lab/a", "import:lab/b"]
    assert chart["series"][0]["values"] == [a.reliability for a in report.annotators]
    annotator = Client()
    annotator.force_login(user_make("ann", project=project))
    assert annotator.get("/p/agree-page/agreement/").status_code == 403
