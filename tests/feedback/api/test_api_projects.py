"""Projects and members through the API."""

import pytest
from django.contrib.auth.models import User

from feedback.models import Assignment, Membership
from tests.feedback.api.conftest import World, client_for

pytestmark = pytest.mark.django_db


def test_projects_list_shows_only_yours_with_your_role(world: World) -> None:
    mine = client_for(world.exporter_a).get("/api/projects/").json()
    assert [(p["slug"], p["role"]) for p in mine] == [("alpha", "exporter")]


def test_only_staff_create_projects_and_a_taken_slug_is_a_conflict(world: World) -> None:
    staff = User.objects.create_user("staff", is_staff=True)
    body = {"name": "Gamma", "slug": "gamma", "mode": "pairwise", "overlap": 3}

    refused = client_for(world.admin_a).post("/api/projects/", body, format="json")
    made = client_for(staff).post("/api/projects/", body, format="json")
    again = client_for(staff).post("/api/projects/", body, format="json")
    bad = client_for(staff).post(
        "/api/projects/", {"name": "x", "slug": "no spaces"}, format="json"
    )

    assert refused.status_code == 403
    assert made.status_code == 201 and made.json()["mode"] == "pairwise"
    assert again.status_code == 409
    assert bad.status_code == 400 and "slug" in bad.json()["error"]["details"]


def test_admin_adds_changes_and_removes_members(world: World) -> None:
    newcomer = User.objects.create_user("newcomer")
    client = client_for(world.admin_a)

    added = client.post(
        "/api/projects/alpha/members/", {"username": "newcomer", "role": "annotator"}, format="json"
    )
    promoted = client.post(
        "/api/projects/alpha/members/", {"username": "newcomer", "role": "exporter"}, format="json"
    )
    nobody = client.post(
        "/api/projects/alpha/members/", {"username": "ghost", "role": "admin"}, format="json"
    )

    assert added.status_code == 200 and promoted.json()["role"] == "exporter"
    assert Membership.objects.get(user=newcomer, project=world.a).role == "exporter"
    assert nobody.status_code == 400 and "username" in nobody.json()["error"]["details"]
    assert client.delete("/api/projects/alpha/members/newcomer/").status_code == 204
    assert client_for(newcomer).get("/api/projects/alpha/").status_code == 404


def test_skip_gives_the_item_back_for_good(world: World) -> None:
    client = client_for(world.annotator_a)
    leased = client.post("/api/projects/alpha/next/").json()["item"]["id"]

    skipped = client.post(
        f"/api/projects/alpha/items/{leased}/skip/", {"reason": "unclear"}, format="json"
    )
    following = client.post("/api/projects/alpha/next/").json()["item"]["id"]

    assert skipped.status_code == 204
    assert following != leased
    assert (
        Assignment.objects.get(item_id=leased, annotator=world.annotator_a).skip_reason == "unclear"
    )
