"""Gold through its doors: the API (admins only, validated), blind to annotators in the API
and the page, the flagged annotator's refusal, and the export leaving gold out by default."""

import random
import re
from typing import Any

import orjson
import pytest
from django.test import Client
from django.urls import reverse

from feedback.models import Item, Judgement, Membership, Project
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make
from tests.feedback.api.conftest import World, client_for
from tests.feedback.api.test_api_flow import body_of
from tests.feedback.gold.test_gold_serving import gold_make, judge

pytestmark = pytest.mark.django_db


def gold_url(item: Item) -> str:
    return f"/api/projects/{item.project.slug}/items/{item.pk}/gold/"


def test_a_project_admin_marks_and_clears_gold_through_the_api(world: World) -> None:
    item = world.items_a[0]
    ids = response_ids(item)
    admin = client_for(world.admin_a)

    put = admin.put(gold_url(item), {"ranking": [[ids[2]], [ids[0], ids[1]]]}, format="json")
    read = admin.get(gold_url(item))

    assert put.status_code == 200
    assert put.json() == {
        "item": item.pk,
        "is_gold": True,
        "ranking": [[ids[2]], [ids[0], ids[1]]],
        "both_bad": False,
    }
    assert read.json()["is_gold"] is True
    # Admins see it on the item too (annotators do not: see the blind tests below).
    assert admin.get(f"/api/projects/alpha/items/{item.pk}/").json()["is_gold"] is True
    assert Project.objects.get(pk=world.a.pk).gold_items == 1

    cleared = admin.delete(gold_url(item))
    assert cleared.status_code == 204
    assert not Item.objects.get(pk=item.pk).is_gold
    assert Project.objects.get(pk=world.a.pk).gold_items == 0


def test_only_project_admins_may_touch_gold(world: World) -> None:
    item = world.items_a[0]
    body = {"ranking": [[pk] for pk in response_ids(item)]}
    for user in (world.annotator_a, world.exporter_a):
        client = client_for(user)
        for answer in (
            client.get(gold_url(item)),
            client.put(gold_url(item), body, format="json"),
            client.delete(gold_url(item)),
        ):
            assert answer.status_code == 403, (user.username, answer.content)
            assert answer.json()["error"]["code"] == "permission_denied"
    outsider = client_for(world.annotator_b)
    assert outsider.put(gold_url(item), body, format="json").status_code == 404
    assert client_for(None).put(gold_url(item), body, format="json").status_code == 401
    other_project_item = f"/api/projects/alpha/items/{world.items_b[0].pk}/gold/"
    assert client_for(world.admin_a).get(other_project_item).status_code == 404
    assert not Item.objects.filter(is_gold=True).exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "ranking"),
        ({"ranking": "first"}, "ranking"),
        ({"ranking": [[1], [2]]}, "ranking"),  # not this item's responses
        ({"ranking": "<missing one>"}, "ranking"),
        ({"ranking": "<all>", "verdict": "A"}, "verdict"),
        ({"verdict": "A"}, "verdict"),  # three responses: no verdict
        ({"verdict": "C"}, "verdict"),
        ({"ranking": "<all>", "both_bad": True}, "both_bad"),  # rank mode
    ],
)
def test_a_bad_gold_answer_is_a_400_naming_the_field(
    world: World, body: dict[str, Any], field: str
) -> None:
    item = world.items_a[0]
    ids = response_ids(item)
    if body.get("ranking") == "<missing one>":
        body["ranking"] = [[ids[0]], [ids[1]]]
    if body.get("ranking") == "<all>":
        body["ranking"] = [[pk] for pk in ids]
    answer = client_for(world.admin_a).put(gold_url(item), body, format="json")
    assert answer.status_code == 400, answer.content
    error = answer.json()["error"]
    assert field in error["details"] and error["message"]
    assert not Item.objects.get(pk=item.pk).is_gold


def test_a_pairwise_verdict_sets_the_expected_answer(db: Any) -> None:
    project = project_make(slug="pairs", mode=Project.Mode.PAIRWISE)
    (item,) = items_make(project=project, count=1, responses=2)
    first, second = response_ids(item)
    admin = client_for(user_make("boss", project=project, role=Membership.Role.ADMIN))
    b = admin.put(gold_url(item), {"verdict": "B"}, format="json")
    both = admin.put(gold_url(item), {"verdict": "both_bad"}, format="json")
    assert b.status_code == 200 and b.json()["ranking"] == [[second], [first]]
    assert both.json() == {
        "item": item.pk,
        "is_gold": True,
        "ranking": [[first, second]],
        "both_bad": True,
    }


def _gold_world() -> tuple[Project, Item, Item]:
    project = project_make(slug="blind", overlap=1, gold_rate=1.0)
    (ordinary,) = items_make(project=project, count=1, responses=3)
    (gold,) = gold_make(project, 1, responses=3)
    return project, ordinary, gold


def test_the_api_lease_of_a_gold_item_looks_like_any_other(db: Any) -> None:
    _project, ordinary, gold = _gold_world()
    ann = user_make("ann", project=_project)
    client = client_for(ann)
    first = client.post("/api/projects/blind/next/").json()
    assert first["item"]["id"] == gold.pk
    ranking = [[pk] for pk in first["response_ids"]]
    client.post("/api/judgements/", {"item": gold.pk, "ranking": ranking}, format="json")
    second = client.post("/api/projects/blind/next/").json()
    assert second["item"]["id"] == ordinary.pk

    def shape(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: shape(v) for k, v in value.items()}
        if isinstance(value, list):
            return [shape(v) for v in value[:1]]
        return type(value).__name__

    assert shape(first) == shape(second)
    listed = client.get("/api/projects/blind/items/").json()["results"]
    for text in (first, second, listed, client.get(f"/api/projects/blind/items/{gold.pk}/").json()):
        assert "gold" not in orjson.dumps(text).decode().lower()


def test_the_page_of_a_gold_item_looks_like_any_other(db: Any) -> None:
    project, ordinary, gold = _gold_world()
    Item.objects.filter(pk=gold.pk).update(messages=ordinary.messages)
    client = Client()
    client.force_login(user_make("ann", project=project))
    page = client.get(reverse("annotate", args=[project.slug]))
    lease = Judgement.objects.none()  # nothing judged yet
    assert page.status_code == 200 and not lease.exists()
    first = client.get(reverse("next-item", args=[project.slug])).json()
    assert first["item"]["id"] == gold.pk
    ranking = [[pk] for pk in first["item"]["shown_order"]]
    done = client.post(
        reverse("judgement-submit", args=[project.slug, gold.pk]) + "?next=1",
        data=orjson.dumps({"ranking": ranking}),
        content_type="application/json",
    ).json()
    second = done["next"]
    assert second["item"]["id"] == ordinary.pk
    assert "gold" not in page.content.decode().lower()
    assert set(first) == set(second)
    for body in (first, second):
        assert "gold" not in body["html"].lower()

    # The same markup but for ids and texts: every class and every attribute name alike.
    def markup(html: str) -> tuple[list[str], list[str]]:
        return re.findall(r'class="([^"]*)"', html), re.findall(r"\s([a-z-]+)=", html)

    assert markup(first["html"]) == markup(second["html"])


def _flagged(gold_stop: bool) -> tuple[Project, Any]:
    random.seed(3)
    project = project_make(
        slug="strict", overlap=1, gold_rate=1.0, gold_threshold=0.9, gold_stop=gold_stop
    )
    items_make(project=project, count=5, responses=2)
    gold_make(project, 3)
    ann = user_make("ann", project=project)
    for _ in range(3):
        lease = assignment_next(project=project, user=ann)
        assert lease is not None
        judge(ann, lease.item, right=False)
    return project, ann


def test_a_stopped_annotator_gets_a_clear_error_in_the_api_and_a_message_on_the_page(
    db: Any,
) -> None:
    project, ann = _flagged(gold_stop=True)
    api = client_for(ann).post("/api/projects/strict/next/")
    assert api.status_code == 403
    error = api.json()["error"]
    assert error["code"] == "gold_below_threshold"
    assert "paused" in error["message"] and error["details"]["threshold"] == 0.9

    client = Client()
    client.force_login(ann)
    page = client.get(reverse("annotate", args=[project.slug]))
    assert page.status_code == 200
    assert "You are paused on this project" in page.content.decode()
    script = client.get(reverse("next-item", args=[project.slug])).json()
    assert script["item"] is None and "paused" in script["html"]


def test_a_flagged_annotator_keeps_working_where_the_project_does_not_stop(db: Any) -> None:
    _project, ann = _flagged(gold_stop=False)
    assert client_for(ann).post("/api/projects/strict/next/").status_code == 200


def test_gold_is_left_out_of_export_and_snapshots_unless_asked(
    world: World, settings: Any, tmp_path: Any
) -> None:
    settings.SNAPSHOT_DIR = tmp_path / "snapshots"
    exporter = client_for(world.exporter_a)

    def rows(**params: str) -> list[Any]:
        answer = exporter.get("/api/projects/alpha/export/", {"format": "rankings", **params})
        return [orjson.loads(line) for line in body_of(answer).splitlines()]

    before = rows()
    gold = world.items_a[1]
    client_for(world.admin_a).put(
        gold_url(gold), {"ranking": [[pk] for pk in response_ids(gold)]}, format="json"
    )
    judgement_submit(user=world.annotator_a, item=gold, ranking=[[pk] for pk in response_ids(gold)])

    assert [r["item"]["id"] for r in rows()] == [r["item"]["id"] for r in before]
    assert gold.pk in [r["item"]["id"] for r in rows(include_gold="true")]
    assert len(rows(include_gold="true")) == len(before) + 1
    bad = exporter.get("/api/projects/alpha/export/", {"include_gold": "perhaps"})
    assert bad.status_code == 400 and "include_gold" in bad.json()["error"]["details"]

    plain = exporter.post("/api/projects/alpha/snapshots/", {"format": "rankings"}, format="json")
    with_gold = exporter.post(
        "/api/projects/alpha/snapshots/",
        {"format": "rankings", "include_gold": True},
        format="json",
    )
    assert plain.status_code == 201 and with_gold.status_code == 201, plain.content
    assert plain.json()["row_count"] == len(before)
    assert with_gold.json()["row_count"] == len(before) + 1


def test_native_rows_posted_to_the_api_may_carry_a_gold_answer(world: World) -> None:
    rows = [
        {"external_id": "g1", "prompt": "Sky?", "responses": ["blue", "red"], "gold": [[0], [1]]},
        {"external_id": "p1", "prompt": "Sea?", "responses": ["wet", "dry"]},
    ]
    made = client_for(world.admin_a).post(
        "/api/projects/alpha/items/", {"items": rows}, format="json"
    )
    assert made.status_code == 201, made.content
    gold, plain = Item.objects.get(external_id="g1"), Item.objects.get(external_id="p1")
    blue, red = response_ids(gold)
    assert gold.is_gold and gold.gold_ranking == [[blue], [red]] and not plain.is_gold
    assert Project.objects.get(pk=world.a.pk).gold_items == 1
    bad = client_for(world.admin_a).post(
        "/api/projects/alpha/items/",
        {"items": [{"external_id": "g2", "prompt": "?", "responses": ["a", "b"], "gold": [[0]]}]},
        format="json",
    )
    assert bad.status_code == 400 and not Item.objects.filter(external_id="g2").exists()


def test_project_admins_set_the_gold_rules_through_the_project_api(world: World) -> None:
    admin = client_for(world.admin_a)
    changed = admin.patch(
        "/api/projects/alpha/",
        {"gold_rate": 0.2, "gold_threshold": 0.6, "gold_stop": True},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert {k: changed.json()[k] for k in ("gold_rate", "gold_threshold", "gold_stop")} == {
        "gold_rate": 0.2,
        "gold_threshold": 0.6,
        "gold_stop": True,
    }
    bad = admin.patch("/api/projects/alpha/", {"gold_rate": 1.5}, format="json")
    assert bad.status_code == 400 and "gold_rate" in bad.json()["error"]["details"]
    cleared = admin.patch("/api/projects/alpha/", {"gold_threshold": None}, format="json")
    assert cleared.json()["gold_threshold"] is None
    refused = client_for(world.annotator_a).patch(
        "/api/projects/alpha/", {"gold_stop": False}, format="json"
    )
    assert refused.status_code == 403
    assert Project.objects.get(pk=world.a.pk).gold_stop is True
