"""Who may do what: every endpoint, for outsiders, members of the wrong role, and callers
without valid credentials."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from core.tokens import token_issue, token_revoke
from tests.feedback.api.conftest import World, client_for

pytestmark = pytest.mark.django_db


def b_urls(w: World) -> list[tuple[str, str]]:
    """Every endpoint that names an object of project B."""
    item = w.items_b[0].pk
    return [
        ("get", "/api/projects/beta/"),
        ("get", "/api/projects/beta/members/"),
        ("post", "/api/projects/beta/members/"),
        ("delete", "/api/projects/beta/members/annotator-b/"),
        ("get", "/api/projects/beta/items/"),
        ("post", "/api/projects/beta/items/"),
        ("post", "/api/projects/beta/items/import/"),
        ("get", f"/api/projects/beta/items/{item}/"),
        ("get", f"/api/projects/beta/items/{item}/responses/"),
        ("post", f"/api/projects/beta/items/{item}/skip/"),
        ("post", "/api/projects/beta/next/"),
        ("get", "/api/projects/beta/judgements/"),
        ("get", f"/api/judgements/{w.judgement_b.pk}/"),
        ("patch", f"/api/judgements/{w.judgement_b.pk}/"),
        ("get", "/api/projects/beta/export/"),
        ("get", "/api/projects/beta/snapshots/"),
        ("post", "/api/projects/beta/snapshots/"),
        ("get", "/api/projects/beta/snapshots/1/"),
        ("get", "/api/projects/beta/snapshots/1/download/"),
    ]


def test_annotator_of_a_gets_404_on_every_object_of_b(world: World) -> None:
    client = client_for(world.annotator_a)
    for method, url in b_urls(world):
        answer = getattr(client, method)(url, {}, format="json")
        assert answer.status_code == 404, (method, url, answer.status_code)
        assert answer.json()["error"]["code"] == "not_found"


def test_submitting_a_judgement_on_an_item_of_b_is_404(world: World) -> None:
    ids = [r.pk for r in world.items_b[1].responses.all()]
    answer = client_for(world.annotator_a).post(
        "/api/judgements/", {"item": world.items_b[1].pk, "ranking": [ids]}, format="json"
    )
    assert answer.status_code == 404


def test_no_token_wrong_token_and_revoked_token_are_401(world: World) -> None:
    revoked = client_for(world.admin_a)
    token_revoke(user=world.admin_a)
    wrong = APIClient()
    wrong.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    for client in (APIClient(), wrong, revoked):
        for method, url in [
            *b_urls(world),
            ("get", "/api/projects/"),
            ("post", "/api/judgements/"),
        ]:
            answer = getattr(client, method)(url, {}, format="json")
            assert answer.status_code == 401, (method, url)
            assert answer.json()["error"]["code"] == "not_authenticated"
            assert answer["WWW-Authenticate"] == "Token"


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/alpha/export/",
        "/api/projects/alpha/snapshots/",
        "/api/projects/alpha/snapshots/1/",
        "/api/projects/alpha/snapshots/1/download/",
    ],
)
def test_annotators_may_not_export_but_exporters_and_admins_may(world: World, url: str) -> None:
    assert client_for(world.annotator_a).get(url).status_code == 403
    assert client_for(world.exporter_a).get(url).status_code in (200, 404)
    assert client_for(world.admin_a).get(url).status_code in (200, 404)


def test_only_project_admins_manage_members_and_items(world: World) -> None:
    for user in (world.annotator_a, world.exporter_a):
        client = client_for(user)
        assert client.get("/api/projects/alpha/members/").status_code == 403
        answer = client.post(
            "/api/projects/alpha/items/", {"items": [{"prompt": "p", "responses": ["a", "b"]}]}
        )
        assert answer.status_code == 403
    assert client_for(world.admin_a).get("/api/projects/alpha/members/").status_code == 200


def test_annotator_sees_only_own_judgements_admin_sees_all(world: World) -> None:
    item = world.items_a[1]
    ids = [r.pk for r in item.responses.order_by("position")]
    other = client_for(world.admin_a).post(
        "/api/judgements/", {"item": item.pk, "ranking": [[i] for i in ids]}, format="json"
    )
    assert other.status_code == 201, other.json()

    mine = client_for(world.annotator_a).get("/api/projects/alpha/judgements/").json()
    everyone = client_for(world.admin_a).get("/api/projects/alpha/judgements/").json()

    assert [j["annotator"] for j in mine["results"]] == ["annotator-a"]
    assert sorted(j["annotator"] for j in everyone["results"]) == ["admin-a", "annotator-a"]
    assert (
        client_for(world.annotator_a).get(f"/api/judgements/{other.json()['id']}/").status_code
        == 404
    )
    patched = client_for(world.admin_a).patch(
        f"/api/judgements/{world.judgement_a.pk}/", {"rationale": "x"}, format="json"
    )
    assert patched.status_code == 403


def test_issue_token_command_prints_a_working_token_and_revoke_stops_it(world: World) -> None:
    out = StringIO()
    call_command("issue_token", "exporter-a", stdout=out)
    token = out.getvalue().strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/projects/").status_code == 200

    call_command("issue_token", "exporter-a", "--revoke", stdout=StringIO())

    assert client.get("/api/projects/").status_code == 401


def test_token_page_issues_a_token_shown_once_and_revokes_it(world: World) -> None:
    browser = Client()
    browser.force_login(world.annotator_a)

    page = browser.post("/account/token/", {"action": "issue"})
    token = page.content.decode().split('<code id="api-token">')[1].split("</code>")[0]
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/projects/").status_code == 200
    assert token not in browser.get("/account/token/").content.decode()

    browser.post("/account/token/", {"action": "revoke"})

    assert api.get("/api/projects/").status_code == 401


def test_issuing_through_the_api_rotates_the_token(world: World) -> None:
    old = token_issue(user=world.exporter_a)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old}")

    new = client.post("/api/token/").json()["token"]

    assert client.get("/api/projects/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {new}")
    assert client.get("/api/projects/").status_code == 200
    assert client.delete("/api/token/").status_code == 204
    assert client.get("/api/projects/").status_code == 401


def test_unknown_api_url_answers_the_error_shape(world: World) -> None:
    answer = client_for(world.admin_a).get("/api/nothing/here/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
