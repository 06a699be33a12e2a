"""Projects and members through the API."""

import pytest
from django.contrib.auth.models import User

from feedback.models import Assignment, Judgement, Membership
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


def test_a_project_admin_changes_settings_and_others_may_not(world: World) -> None:
    changed = client_for(world.admin_a).patch(
        "/api/projects/alpha/",
        {"guidelines": "Prefer **short** answers.", "overlap": 3, "name": "Alpha v2"},
        format="json",
    )
    assert changed.status_code == 200
    assert (changed.json()["overlap"], changed.json()["name"]) == (3, "Alpha v2")
    world.a.refresh_from_db()
    assert (world.a.overlap, world.a.guidelines) == (3, "Prefer **short** answers.")
    assert world.a.slug == "alpha"

    refused = client_for(world.annotator_a).patch(
        "/api/projects/alpha/", {"overlap": 1}, format="json"
    )
    unseen = client_for(world.admin_a).patch("/api/projects/beta/", {"overlap": 1}, format="json")
    assert (refused.status_code, unseen.status_code) == (403, 404)
    world.a.refresh_from_db()
    assert world.a.overlap == 3


def test_a_bad_setting_changes_nothing_and_the_mode_is_fixed_once_judged(world: World) -> None:
    client = client_for(world.admin_a)
    bad = client.patch("/api/projects/alpha/", {"overlap": 0, "name": "x"}, format="json")
    assert bad.status_code == 400 and "overlap" in bad.json()["error"]["details"]
    locked = client.patch("/api/projects/alpha/", {"mode": "pairwise"}, format="json")
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "mode_locked"
    world.a.refresh_from_db()
    assert (world.a.name, world.a.mode, world.a.overlap) == ("Alpha", "rank", 2)
    # Staff may change any project; one with no judgements yet may still switch mode.
    staff = client_for(User.objects.create_user("staff", is_staff=True))
    staff.post("/api/projects/", {"name": "Gamma", "slug": "gamma"}, format="json")
    switched = staff.patch("/api/projects/gamma/", {"mode": "pairwise"}, format="json")
    assert switched.status_code == 200 and switched.json()["mode"] == "pairwise"


def test_the_rating_scale_is_fixed_once_ratings_were_given(world: World) -> None:
    client = client_for(world.admin_a)
    changed = client.patch("/api/projects/alpha/", {"rating_scale": 7}, format="json")
    assert changed.status_code == 200
    pk = world.judgement_a.ranking[0][0]
    Judgement.objects.filter(pk=world.judgement_a.pk).update(ratings={str(pk): 6})
    locked = client.patch("/api/projects/alpha/", {"rating_scale": 10}, format="json")
    assert locked.status_code == 409 and locked.json()["error"]["code"] == "rating_scale_locked"


def test_a_project_admin_adds_only_active_non_staff_accounts_and_learns_nothing_else(
    world: World,
) -> None:
    from tests.factories import user_make

    user_make("root", is_staff=True, is_superuser=True)
    user_make("gone", is_active=False)
    user_make("newcomer")
    admin = client_for(world.admin_a)
    answers = {
        name: admin.post(
            "/api/projects/alpha/members/", {"username": name, "role": "annotator"}, format="json"
        )
        for name in ("root", "gone", "nobody-by-this-name", "newcomer")
    }
    refusals = [answers[n].json()["error"] for n in ("root", "gone", "nobody-by-this-name")]
    assert {a.status_code for n, a in answers.items() if n != "newcomer"} == {400}
    assert refusals[0] == refusals[1] == refusals[2]  # the same answer: nothing to probe
    assert answers["newcomer"].status_code == 200
    staff = client_for(user_make("staffer", is_staff=True))
    added = staff.post(
        "/api/projects/alpha/members/", {"username": "root", "role": "admin"}, format="json"
    )
    assert added.status_code == 200
