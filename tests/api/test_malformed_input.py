"""Malformed input is a 400 with the field and our error shape, never a 500: the requests
that got a 500 in issue 15, and the class each stands for (one text check, one JSON
parser with a depth limit, one cursor decoder, validated filters, moments Postgres can
store)."""

import base64
import json
from typing import Any

import pytest
from django.test import Client

from feedback.models import Item
from tests.factories import response_ids
from tests.feedback.api.conftest import World, client_for

pytestmark = pytest.mark.django_db

NUL, SURROGATE = "\u0000", "\ud800"
DEEP = "[" * 100_000 + "]" * 100_000


def refused(answer: Any, field: str | None = None) -> dict[str, Any]:
    assert answer.status_code == 400, (answer.status_code, answer.content[:300])
    assert answer["Content-Type"].startswith("application/json")
    error: dict[str, Any] = answer.json()["error"]
    assert set(error) == {"code", "message", "details"}
    if field is not None:
        assert field in json.dumps(error["details"]), error
    return error


def post_raw(client: Any, url: str, text: str) -> Any:
    return client.post(url, data=text.encode(), content_type="application/json")


def lease(world: World) -> tuple[Any, int]:
    """The annotator's client and the item they hold a lease on."""
    client = client_for(world.annotator_a)
    answer = client.post("/api/projects/alpha/next/")
    assert answer.status_code == 200
    return client, answer.json()["item"]["id"]


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
@pytest.mark.parametrize("field", ["rationale", "flag_reason"])
def test_bad_text_in_a_judgement_is_refused(world: World, bad: str, field: str) -> None:
    client, item_id = lease(world)
    ids = response_ids(Item.objects.get(pk=item_id))
    body = {"item": item_id, "ranking": [[i] for i in ids], field: f"x{bad}y"}
    refused(post_raw(client, "/api/judgements/", json.dumps(body)), field)


@pytest.mark.parametrize("bad", [NUL, SURROGATE], ids=["nul", "surrogate"])
def test_bad_text_in_a_skip_reason_is_refused(world: World, bad: str) -> None:
    client, item_id = lease(world)
    url = f"/api/projects/alpha/items/{item_id}/skip/"
    refused(post_raw(client, url, json.dumps({"reason": bad})), "reason")


@pytest.mark.parametrize(
    "metadata",
    [{"note": NUL}, {SURROGATE: 1}, {"n": 2**64}, {"n": -(2**63) - 1}, {"deep": [[[[]]]]}],
    ids=["nul", "surrogate-key", "2^64", "below-int64", "fine"],
)
def test_metadata_of_new_items_is_checked(world: World, metadata: dict[str, Any]) -> None:
    admin = client_for(world.admin_a)
    row = {"prompt": "P", "responses": ["a", "b"], "metadata": metadata}
    answer = post_raw(admin, "/api/projects/alpha/items/", json.dumps({"items": [row]}))
    if metadata == {"deep": [[[[]]]]}:
        assert answer.status_code == 201, answer.json()
    else:
        refused(answer, "metadata")


@pytest.mark.parametrize(
    "url",
    [
        "/api/projects/alpha/items/?external_id=%00",
        "/api/projects/alpha/judgements/?annotator=%00",
        "/api/jobs/?status=%00",
        "/api/models/?kind=%00",
        "/api/projects/alpha/members/a%00b/",
        "/api/projects/alpha/export/?annotator=%00",
    ],
)
def test_a_nul_in_a_filter_or_a_path_is_refused(world: World, url: str) -> None:
    client = client_for(world.admin_a)
    method = client.delete if "/members/" in url else client.get
    refused(method(url))


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/api/jobs/?status=sideways", "status"),
        ("/api/jobs/?kind=" + "x" * 300, "kind"),
        ("/api/models/?kind=dragon", "kind"),
        ("/api/models/?status=lost", "status"),
        ("/api/projects/alpha/items/?external_id=" + "x" * 300, "external_id"),
        ("/api/projects/alpha/judgements/?item=99999999999999999999999", "item"),
        ("/api/projects/alpha/items/?page_size=0", "page_size"),
        ("/api/projects/alpha/items/?page_size=x", "page_size"),
    ],
)
def test_list_filters_are_validated_not_passed_raw(world: World, url: str, field: str) -> None:
    refused(client_for(world.admin_a).get(url), field)


@pytest.mark.parametrize(
    "cursor",
    [
        base64.b64encode(b"p=x").decode(),
        base64.b64encode(b"p=99999999999999999999999").decode(),
        base64.b64encode(b"o=-1").decode(),
        "not base64!",
        base64.b64encode(b"\xff\xfe").decode(),
    ],
)
@pytest.mark.parametrize(
    "url", ["/api/projects/alpha/items/", "/api/projects/alpha/judgements/", "/api/jobs/"]
)
def test_a_forged_cursor_is_a_400_naming_the_cursor(world: World, url: str, cursor: str) -> None:
    refused(client_for(world.admin_a).get(url, {"cursor": cursor}), "cursor")


def test_a_real_cursor_still_pages(world: World) -> None:
    client = client_for(world.admin_a)
    first = client.get("/api/projects/alpha/items/", {"page_size": 1}).json()
    second = client.get(first["next"]).json()
    assert second["results"][0]["id"] > first["results"][0]["id"]


def test_json_nested_100000_levels_is_a_400(world: World) -> None:
    client, _ = lease(world)
    error = refused(post_raw(client, "/api/judgements/", '{"item": 1, "ranking": ' + DEEP + "}"))
    assert "deeper than 64" in error["message"]
    admin = client_for(world.admin_a)
    refused(post_raw(admin, "/api/projects/alpha/items/", '{"items": ' + DEEP + "}"))


@pytest.mark.parametrize("text", ["{", "", "[1, NaN]", '{"a": 1e999}', '"\\ud800"'])
def test_bodies_that_are_not_json_we_can_store_are_400(world: World, text: str) -> None:
    refused(post_raw(client_for(world.admin_a), "/api/projects/alpha/items/", text))


@pytest.mark.parametrize("since", ["0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-23:59"])
def test_moments_postgres_cannot_store_are_400_in_export_and_snapshot(
    world: World, since: str
) -> None:
    client = client_for(world.admin_a)
    refused(client.get("/api/projects/alpha/export/", {"since": since}), "since")
    answer = post_raw(client, "/api/projects/alpha/snapshots/", json.dumps({"since": since}))
    refused(answer, "since")


def test_an_offset_postgres_refuses_is_taken_as_the_same_moment_in_utc(
    world: World, settings: Any, tmp_path: Any
) -> None:
    settings.SNAPSHOT_DIR = tmp_path
    client = client_for(world.admin_a)
    since = "0001-01-01T00:00:00-23:59"  # Postgres takes offsets up to 15:59 only
    export = client.get("/api/projects/alpha/export/", {"since": since, "format": "rankings"})
    assert export.status_code == 200
    assert b"".join(export.streaming_content).count(b"\n") == 1  # type: ignore[attr-defined]
    answer = post_raw(client, "/api/projects/alpha/snapshots/", json.dumps({"since": since}))
    assert answer.status_code == 201, answer.json()


def test_a_nul_in_a_page_form_or_the_page_api_is_refused(world: World) -> None:
    page = Client()
    answer = page.post("/login/", {"username": "a\x00b", "password": "x"})
    assert answer.status_code == 400
    assert b"NUL" in answer.content
    page.force_login(world.annotator_a)
    answer = page.get("/p/alpha/?q=%00")
    assert answer.status_code == 400


def test_an_unknown_api_path_with_a_newline_is_a_json_404(world: World) -> None:
    answer = client_for(world.admin_a).get("/api/projects/alpha/snapshots/a%0Ab/")
    assert answer.status_code == 404
    assert answer.json()["error"]["code"] == "not_found"
