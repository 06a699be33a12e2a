"""Rounds: new candidates of an item already judged or held open a new round on it; a
judgement stays about what was shown to its annotator; export pairs only what was shown
together. Postgres, through the services, the pages and the API."""

import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from feedback.export import export_params_parse, export_rows
from feedback.models import Item, Judgement, Project, Response, Round
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from feedback.services.rounds import candidates_arrived, item_rounds
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def _client(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _post_json(client: Client, url: str, data: Any) -> Any:
    return client.post(url, data=json.dumps(data), content_type="application/json")


def _add_candidate(item: Item, text: str = "A brand new answer.") -> Response:
    """What generation does: write a response and place it in a round, one transaction."""
    last = Response.objects.filter(item=item).order_by("-position").first()
    response = Response.objects.create(
        item=item,
        position=(last.position + 1) if last else 0,
        content=text,
        source=Response.Source.MODEL,
        model_name="policy-v2",
    )
    candidates_arrived(project=item.project, new_responses={item.pk: [response.pk]})
    return response


def _judge_via_lease(user: User, project: Project) -> Judgement:
    lease = assignment_next(project=project, user=user)
    assert lease is not None
    shown = Round.objects.filter(item=lease.item, number=lease.round).first()
    ids = sorted(shown.response_ids) if shown else response_ids(lease.item)
    return judgement_submit(user=user, item=lease.item, ranking=[[pk] for pk in ids])


def test_a_new_candidate_on_a_completed_item_opens_a_round_served_to_the_overlap_again() -> None:
    project = project_make(overlap=2)
    (item,) = items_make(project=project, count=1, responses=3)
    a, b, c = response_ids(item)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    # Both prefer b, then a, then c: b is the best so far.
    for user in (ann, bob):
        assert assignment_next(project=project, user=user) is not None
        judgement_submit(user=user, item=item, ranking=[[b], [a], [c]])
    assert assignment_next(project=project, user=ann) is None  # complete

    new = _add_candidate(item)

    item.refresh_from_db()
    assert item.round == 2 and item.judgement_count == 0
    # Round 1 is written down as it was shown; round 2 is the newcomer against the best.
    assert item_rounds(item=item) == [(1, [a, b, c]), (2, sorted([b, new.pk]))]
    for user in (ann, bob):
        lease = assignment_next(project=project, user=user)
        assert lease is not None and lease.item_id == item.pk and lease.round == 2
        page = _client(user).get(reverse("next-item", args=[project.slug])).json()
        assert sorted(page["item"]["shown_order"]) == sorted([b, new.pk])
        judgement_submit(user=user, item=item, ranking=[[new.pk], [b]])
    item.refresh_from_db()
    assert item.judgement_count == 2
    assert assignment_next(project=project, user=ann) is None
    # Round 1's judgements are untouched and still current.
    assert sorted(
        Judgement.objects.filter(item=item, is_current=True).values_list("round", flat=True)
    ) == [1, 1, 2, 2]


def test_an_item_nobody_judged_or_holds_keeps_one_round_that_grows() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=2)
    _add_candidate(item)
    item.refresh_from_db()
    assert item.round == 1 and not Round.objects.filter(item=item).exists()
    lease = assignment_next(project=project, user=user_make("ann", project=project))
    assert lease is not None and lease.round == 1
    assert (
        len(
            _client(lease.annotator)
            .get(reverse("next-item", args=[project.slug]))
            .json()["item"]["shown_order"]
        )
        == 3
    )


def test_a_held_item_keeps_what_it_showed_until_the_lease_ends() -> None:
    project = project_make(overlap=2)
    (item,) = items_make(project=project, count=1, responses=3)
    first = response_ids(item)
    ann, carol = user_make("ann", project=project), user_make("carol", project=project)
    held = assignment_next(project=project, user=carol)
    assert held is not None and held.item_id == item.pk
    shown_before = _client(carol).get(reverse("next-item", args=[project.slug])).json()["item"]

    new = _add_candidate(item)

    item.refresh_from_db()
    assert item.round == 2
    again = assignment_next(project=project, user=carol)
    assert again is not None and again.pk == held.pk and again.round == 1
    shown_now = _client(carol).get(reverse("next-item", args=[project.slug])).json()["item"]
    assert shown_now == shown_before and new.pk not in shown_now["shown_order"]
    # Her lease does not take a place in round 2: ann gets round 2 meanwhile.
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.round == 2
    # Her judgement is of round 1 and is checked against what she was shown.
    refused = _post_json(
        _client(carol),
        reverse("judgement-submit", args=[project.slug, item.pk]),
        {"ranking": [[pk] for pk in [*first, new.pk]], "round": 1},
    )
    assert refused.status_code == 400 and "ranking" in refused.json()["error"]["details"]
    made = _post_json(
        _client(carol),
        reverse("judgement-submit", args=[project.slug, item.pk]),
        {"ranking": [[pk] for pk in first], "shown_order": shown_now["shown_order"], "round": 1},
    )
    assert made.status_code == 201
    judgement = Judgement.objects.get(pk=made.json()["judgement"]["id"])
    assert judgement.round == 1
    item.refresh_from_db()
    assert item.judgement_count == 0  # round 2 still needs its two


def test_changing_an_old_judgement_after_new_candidates_saves_against_what_was_shown() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=3)
    a, b, c = response_ids(item)
    ann = user_make("ann", project=project)
    client = _client(ann)
    shown = client.get(reverse("next-item", args=[project.slug])).json()["item"]["shown_order"]
    first = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, item.pk]),
        {"ranking": [[a], [b], [c]], "shown_order": shown},
    )
    assert first.status_code == 201
    new = _add_candidate(item)

    # The change page shows the three judged, and saving them works (it used to 400).
    page = client.get(reverse("item", args=[project.slug, item.pk]))
    assert page.status_code == 200
    html = page.content.decode()
    assert f'data-shown-order="{",".join(map(str, shown))}"' in html
    assert 'data-round="1"' in html
    changed = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, item.pk]),
        {"ranking": [[c], [b], [a]], "shown_order": shown, "round": 1},
    )
    assert changed.status_code == 201, changed.json()
    assert changed.json()["judgement"]["version"] == 2
    # It is validated against that shown set: the later response is not part of it.
    with_new = _post_json(
        client,
        reverse("judgement-submit", args=[project.slug, item.pk]),
        {"ranking": [[c], [b], [a], [new.pk]], "round": 1},
    )
    assert with_new.status_code == 400
    assert with_new.json()["error"]["details"]["ranking"] == [
        f"response {new.pk} does not belong to this item"
    ]
    # The API's change door too (PATCH keeps the judgement's round).
    current = Judgement.objects.get(item=item, annotator=ann, is_current=True)
    api = _client(ann).patch(
        f"/api/judgements/{current.pk}/",
        data=json.dumps({"ranking": [[b], [a, c]]}),
        content_type="application/json",
    )
    assert api.status_code == 201, api.json()
    assert api.json()["round"] == 1 and api.json()["version"] == 3


def test_export_pairs_only_responses_shown_together() -> None:
    project = project_make(overlap=2)
    (item,) = items_make(project=project, count=1, responses=3)
    a, b, c = response_ids(item)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    for user in (ann, bob):
        judgement_submit(user=user, item=item, ranking=[[a], [b], [c]])
    new = _add_candidate(item)
    item.refresh_from_db()
    assert item_rounds(item=item)[1] == (2, sorted([a, new.pk]))
    for user in (ann, bob):
        judgement_submit(user=user, item=item, ranking=[[new.pk], [a]], round=2)

    content = dict(Response.objects.filter(item=item).values_list("content", "pk"))
    for query in ({"format": "trl"}, {"format": "trl", "aggregate": "consensus"}):
        pairs = {
            (content[row["chosen"].strip()], content[row["rejected"].strip()])
            for row in export_rows(project=project, params=export_params_parse(query))
        }
        assert pairs == {(a, b), (a, c), (b, c), (new.pk, a)}, query
    consensus = list(
        export_rows(
            project=project,
            params=export_params_parse({"format": "rankings", "aggregate": "consensus"}),
        )
    )
    assert [(row["round"], row["ranking"], row["agreement"]) for row in consensus] == [
        (1, [[a], [b], [c]], 1.0),
        (2, [[new.pk], [a]], 1.0),
    ]
