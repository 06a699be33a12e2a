"""Blind means blind over the API too: an annotator gets what the page shows (each
response's id and content, in the order shuffled for them), never model names, sources,
positions or metadata; admins, exporters and staff get everything."""

from typing import Any

import pytest

from feedback.blind import shown_order_for
from feedback.models import Item, Membership, Project, Response
from tests.factories import items_make, project_make, user_make
from tests.feedback.api.conftest import World, client_for

pytestmark = pytest.mark.django_db

HIDDEN = {"model_name", "source", "position", "metadata"}


def with_model_names(world: World) -> None:
    Response.objects.filter(item__project=world.a).update(
        model_name="secret-model", source="model", metadata={"temperature": 0.7}
    )
    Item.objects.filter(project=world.a).update(metadata={"gold": "response 0"})


def assert_blind(item: dict[str, Any], annotator: Any) -> None:
    assert "metadata" not in item
    for response in item["responses"]:
        assert set(response) == {"id", "content"}
    stored = Item.objects.get(pk=item["id"])
    ids = list(stored.responses.values_list("id", flat=True))
    assert [r["id"] for r in item["responses"]] == shown_order_for(
        user=annotator, item=stored, response_ids=ids
    )


def test_every_endpoint_that_returns_responses_is_blind_for_annotators(world: World) -> None:
    with_model_names(world)
    annotator = world.annotator_a
    client = client_for(annotator)
    leased = client.post("/api/projects/alpha/next/")
    assert leased.status_code == 200
    assert_blind(leased.json()["item"], annotator)
    item_id = leased.json()["item"]["id"]

    listed = client.get("/api/projects/alpha/items/").json()["results"]
    assert len(listed) == 3
    for item in listed:
        assert_blind(item, annotator)
    assert_blind(client.get(f"/api/projects/alpha/items/{item_id}/").json(), annotator)
    responses = client.get(f"/api/projects/alpha/items/{item_id}/responses/").json()
    assert_blind({"id": item_id, "responses": responses}, annotator)
    assert "secret-model" not in str(listed) + str(responses) + str(leased.json())


def test_the_shuffled_order_differs_between_annotators_and_from_the_stored_one(
    db: Any,
) -> None:
    project = project_make(slug="shuffle")
    items_make(project=project, count=1, responses=6)
    users = [user_make(f"ann-{n}", project=project) for n in range(6)]
    orders = {
        tuple(
            r["id"]
            for r in client_for(u)
            .get("/api/projects/shuffle/items/")
            .json()["results"][0]["responses"]
        )
        for u in users
    }
    stored = tuple(Response.objects.order_by("position").values_list("id", flat=True))
    assert len(orders) > 1  # six annotators, 720 orders: not all the same
    assert orders != {stored}


def test_pairwise_annotators_get_the_two_responses_the_page_shows(db: Any) -> None:
    project = project_make(slug="pairs", mode=Project.Mode.PAIRWISE)
    items_make(project=project, count=1, responses=3)
    annotator = user_make("pair-annotator", project=project)
    item = client_for(annotator).get("/api/projects/pairs/items/").json()["results"][0]
    assert len(item["responses"]) == 2
    assert_blind(item, annotator)


@pytest.mark.parametrize("who", ["admin_a", "exporter_a", "staff"])
def test_admins_exporters_and_staff_see_everything(world: World, who: str) -> None:
    with_model_names(world)
    user = user_make("staff-user", is_staff=True) if who == "staff" else getattr(world, who)
    client = client_for(user)
    item = client.get("/api/projects/alpha/items/").json()["results"][0]
    assert item["metadata"] == {"gold": "response 0"}
    assert [r["position"] for r in item["responses"]] == [0, 1, 2]
    assert {r["model_name"] for r in item["responses"]} == {"secret-model"}
    responses = client.get(f"/api/projects/alpha/items/{item['id']}/responses/").json()
    assert set(responses[0]) >= HIDDEN


def test_an_admin_who_annotates_still_sees_everything(world: World) -> None:
    with_model_names(world)
    Membership.objects.filter(user=world.admin_a).update(role=Membership.Role.ADMIN)
    leased = client_for(world.admin_a).post("/api/projects/alpha/next/").json()
    assert set(leased["item"]["responses"][0]) >= HIDDEN
