"""The leaderboard: Bradley-Terry strengths with bootstrap intervals, over the HTTP API,
on planted judgements in Postgres."""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client

from feedback.models import Item, Judgement, Membership, Project, Response
from tests.factories import project_make, user_make

pytestmark = pytest.mark.django_db

MODELS = ("model-a", "model-b", "model-c")


def _planted(project: Project, annotator: User, *, items: int, tie: bool) -> None:
    """``items`` prompts answered by the three models; each judged best-first a > b > c
    (or all three tied)."""
    for n in range(items):
        item = Item.objects.create(
            project=project, external_id=f"q{n}", messages=[{"role": "user", "content": "Hi?"}]
        )
        ids = [
            Response.objects.create(
                item=item, position=p, content=f"answer {p} " * (p + 1), model_name=m
            ).pk
            for p, m in enumerate(MODELS)
        ]
        ranking = [ids] if tie else [[pk] for pk in ids]
        Judgement.objects.create(item=item, annotator=annotator, ranking=ranking)


def _board(user: User, project: Project, **params: str) -> Any:
    client = Client()
    client.force_login(user)
    return client.get(f"/api/projects/{project.slug}/leaderboard/", params)


def test_a_model_always_preferred_ranks_first_with_separated_intervals() -> None:
    project = project_make()
    admin = user_make("admin", project=project, role=Membership.Role.ADMIN)
    _planted(project, admin, items=20, tie=False)
    answer = _board(admin, project)
    assert answer.status_code == 200
    board = answer.json()
    assert [row["model"] for row in board] == list(MODELS)
    a, b, c = board
    assert a["ci"][0] > b["ci"][1] and b["ci"][0] > c["ci"][1]
    assert [row["comparisons"] for row in board] == [40, 40, 40]
    assert [row["win_rate"] for row in board] == [1.0, 0.5, 0.0]
    for row in board:
        assert row["ci"][0] <= row["score"] <= row["ci"][1]


def test_ties_give_equal_scores_within_each_others_intervals() -> None:
    project = project_make()
    admin = user_make("admin", project=project, role=Membership.Role.ADMIN)
    _planted(project, admin, items=10, tie=True)
    board = _board(admin, project, control="length").json()
    scores = [row["score"] for row in board]
    assert max(scores) - min(scores) < 1.0
    for row in board:
        for other in board:
            assert row["ci"][0] <= other["score"] <= row["ci"][1]
        assert row["win_rate"] == 0.5


def test_length_control_takes_a_preference_for_longer_answers_out() -> None:
    project = project_make()
    admin = user_make("admin", project=project, role=Membership.Role.ADMIN)
    # The longer answer wins 80% of the time, whichever model wrote it.
    for n in range(40):
        item = Item.objects.create(
            project=project, external_id=f"q{n}", messages=[{"role": "user", "content": "Hi?"}]
        )
        long_model, short_model = ("model-a", "model-b") if n % 2 else ("model-b", "model-a")
        long = Response.objects.create(
            item=item, position=0, content="word " * 60, model_name=long_model
        )
        short = Response.objects.create(
            item=item, position=1, content="word", model_name=short_model
        )
        winner, loser = (long, short) if n % 5 else (short, long)
        Judgement.objects.create(item=item, annotator=admin, ranking=[[winner.pk], [loser.pk]])
    plain = _board(admin, project).json()
    controlled = _board(admin, project, control="length").json()
    assert abs(plain[0]["score"] - plain[1]["score"]) < 1.0  # each model was long half the time
    assert abs(controlled[0]["score"] - controlled[1]["score"]) < 1.0


def test_annotators_do_not_see_the_leaderboard_and_bad_parameters_are_400() -> None:
    project = project_make()
    admin = user_make("admin", project=project, role=Membership.Role.ADMIN)
    ann = user_make("ann", project=project)
    assert _board(ann, project).status_code == 403
    bad = _board(admin, project, control="colour")
    assert bad.status_code == 400 and "control" in bad.json()["error"]["details"]
    assert _board(admin, project, rounds="-1").status_code == 400
    assert _board(admin, project).json() == []


def test_the_leaderboard_page_draws_each_model_with_its_interval() -> None:
    project = project_make()
    admin = user_make("admin", project=project, role=Membership.Role.ADMIN)
    _planted(project, admin, items=6, tie=False)
    client = Client()
    client.force_login(admin)
    dashboard = client.get(f"/p/{project.slug}/dashboard/").content.decode()
    assert f'href="/p/{project.slug}/leaderboard/"' in dashboard
    page = client.get(f"/p/{project.slug}/leaderboard/")
    assert page.status_code == 200
    html = page.content.decode()
    assert html.count('class="ci-line"') == 6 and "With length control" in html
    assert html.index("model-a") < html.index("model-b") < html.index("model-c")
    annotator = Client()
    annotator.force_login(user_make("ann", project=project))
    assert annotator.get(f"/p/{project.slug}/leaderboard/").status_code == 403
