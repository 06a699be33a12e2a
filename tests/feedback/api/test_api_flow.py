"""The API end to end: items in, leases and judgements, the export stream and snapshots."""

import hashlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from feedback.models import Item, Judgement
from tests.factories import items_make, response_ids
from tests.feedback.api.conftest import World, client_for

pytestmark = pytest.mark.django_db


def body_of(answer: Any) -> bytes:
    return b"".join(answer.streaming_content)


def test_bulk_create_is_all_or_nothing_with_row_errors(world: World) -> None:
    admin = client_for(world.admin_a)
    before = Item.objects.filter(project=world.a).count()
    bad = admin.post(
        "/api/projects/alpha/items/",
        {
            "items": [
                {"prompt": "Fine", "responses": ["a", "b"]},
                {"prompt": "Broken", "responses": ["a", "b"], "ranking": [[0], [5]]},
            ]
        },
        format="json",
    )
    assert bad.status_code == 400
    errors = bad.json()["error"]["details"]["errors"]
    assert errors[0]["row"] == 2 and errors[0]["field"] == "ranking"
    assert Item.objects.filter(project=world.a).count() == before

    good = admin.post(
        "/api/projects/alpha/items/",
        {
            "items": [
                {"external_id": "n1", "prompt": "One", "responses": ["a", "b"]},
                {
                    "external_id": "n2",
                    "prompt": "Two",
                    "responses": ["c", "d"],
                    "ranking": [[1], [0]],
                },
            ]
        },
        format="json",
    )
    assert good.status_code == 201, good.json()
    assert good.json()["items_created"] == 2 and good.json()["judgements_created"] == 1


def test_item_list_filters_and_pages_with_a_cursor(world: World) -> None:
    items_make(project=world.a, count=7, responses=2)
    client = client_for(world.exporter_a)  # sees positions (annotators are blind)

    first = client.get("/api/projects/alpha/items/", {"page_size": 4}).json()
    second = client.get(first["next"]).json()
    judged = client.get("/api/projects/alpha/items/", {"judged": "true"}).json()
    one = client.get("/api/projects/alpha/items/", {"external_id": "item-1"}).json()
    bad = client.get("/api/projects/alpha/items/", {"judged": "perhaps"})

    ids = [i["id"] for i in first["results"] + second["results"]]
    assert len(ids) == 8 and ids == sorted(ids)
    assert [i["id"] for i in judged["results"]] == [world.items_a[0].pk]
    assert [i["external_id"] for i in one["results"]] == ["item-1"]
    assert [r["position"] for r in one["results"][0]["responses"]] == [0, 1, 2]
    assert bad.status_code == 400 and "judged" in bad.json()["error"]["details"]


def test_next_lease_then_submit_then_edit_makes_a_new_version(world: World) -> None:
    client = client_for(world.annotator_a)

    lease = client.post("/api/projects/alpha/next/")
    assert lease.status_code == 200, lease.json()
    item = lease.json()["item"]
    assert item["id"] != world.items_a[0].pk  # already judged by this annotator
    ids = [r["id"] for r in item["responses"]]
    submitted = client.post(
        "/api/judgements/",
        {"item": item["id"], "ranking": [[ids[1]], [ids[0], ids[2]]], "shown_order": ids},
        format="json",
    )
    assert submitted.status_code == 201, submitted.json()
    edited = client.patch(
        f"/api/judgements/{submitted.json()['id']}/", {"ranking": [[i] for i in ids]}, format="json"
    )

    assert edited.status_code == 201, edited.json()
    assert edited.json()["version"] == 2 and edited.json()["previous"] == submitted.json()["id"]
    assert Judgement.objects.get(pk=submitted.json()["id"]).is_current is False
    history = client.get("/api/projects/alpha/judgements/", {"current": "false"}).json()
    assert len(history["results"]) == 3


def test_bad_judgement_is_400_naming_the_field(world: World) -> None:
    client = client_for(world.annotator_a)
    item = world.items_a[1]
    ids = response_ids(item)
    client.post("/api/projects/alpha/next/")

    missing = client.post(
        "/api/judgements/", {"item": item.pk, "ranking": [[ids[0]]]}, format="json"
    )
    wrong_type = client.post(
        "/api/judgements/", {"item": item.pk, "ranking": "best"}, format="json"
    )

    assert missing.status_code == 400 and "ranking" in missing.json()["error"]["details"]
    assert wrong_type.status_code == 400 and "ranking" in wrong_type.json()["error"]["details"]


def test_next_answers_204_when_nothing_is_left(world: World) -> None:
    client = client_for(world.annotator_b)
    lease = client.post("/api/projects/beta/next/").json()
    ids = [r["id"] for r in lease["item"]["responses"]]
    client.post("/api/judgements/", {"item": lease["item"]["id"], "ranking": [ids]}, format="json")

    assert client.post("/api/projects/beta/next/").status_code == 204


def test_export_streams_json_lines_with_a_fixed_number_of_queries(world: World) -> None:
    client = client_for(world.exporter_a)
    small = body_of(client.get("/api/projects/alpha/export/", {"format": "trl"}))
    for item in items_make(project=world.a, count=20, responses=3):
        ids = response_ids(item)
        Judgement.objects.create(item=item, annotator=world.annotator_a, ranking=[[i] for i in ids])

    with CaptureQueriesContext(connection) as small_queries:
        body_of(client.get("/api/projects/alpha/export/", {"format": "trl"}))
    answer = client.get("/api/projects/alpha/export/", {"format": "trl"})
    lines = [orjson.loads(line) for line in body_of(answer).splitlines()]

    assert answer["Content-Type"] == "application/x-ndjson"
    assert len(small.splitlines()) == 2 and len(lines) == 2 + 20 * 3
    assert set(lines[0]) == {"prompt", "chosen", "rejected"}
    # Auth, project, role check, transaction set-up and the one streamed read: not per row.
    assert len(small_queries) <= 10


def test_export_counts_rows_when_cheap_and_refuses_bad_parameters(world: World) -> None:
    client = client_for(world.admin_a)
    rankings = client.get("/api/projects/alpha/export/", {"format": "rankings"})
    bad = client.get("/api/projects/alpha/export/", {"format": "trl", "pairs": "most"})
    unknown = client.get("/api/projects/alpha/export/", {"colour": "red"})

    assert rankings["X-Row-Count"] == "1" and len(body_of(rankings).splitlines()) == 1
    assert bad.status_code == 400 and bad.json()["error"]["details"] == {
        "pairs": ["must be one of all, best-vs-rest, best-vs-worst (got 'most')"]
    }
    assert unknown.status_code == 400 and "colour" in unknown.json()["error"]["details"]


def test_snapshot_api_writes_lists_gets_and_downloads(
    world: World, settings: Any, tmp_path: Path
) -> None:
    settings.SNAPSHOT_DIR = tmp_path
    client = client_for(world.exporter_a)

    made = client.post(
        "/api/projects/alpha/snapshots/",
        {"format": "trl", "margin": "rank-distance"},
        format="json",
    )
    assert made.status_code == 201, made.json()
    snapshot = made.json()
    listed = client.get("/api/projects/alpha/snapshots/").json()
    got = client.get(f"/api/projects/alpha/snapshots/{snapshot['id']}/").json()
    download = client.get(f"/api/projects/alpha/snapshots/{snapshot['id']}/download/")
    parquet = client.get(f"/api/projects/alpha/snapshots/{snapshot['id']}/download/?kind=parquet")
    body = body_of(download)

    assert [s["id"] for s in listed["results"]] == [snapshot["id"]]
    assert got["sha256"] == snapshot["sha256"] == hashlib.sha256(body).hexdigest()
    assert download["X-Content-SHA256"] == snapshot["sha256"]
    assert got["row_count"] == len(body.splitlines()) == 2
    assert parquet.status_code == 200 and body_of(parquet)[:4] == b"PAR1"


def test_snapshot_with_bad_or_empty_parameters_is_refused(
    world: World, settings: Any, tmp_path: Path
) -> None:
    settings.SNAPSHOT_DIR = tmp_path
    client = client_for(world.admin_a)

    bad = client.post("/api/projects/alpha/snapshots/", {"min_agreement": 3}, format="json")
    empty = client.post("/api/projects/alpha/snapshots/", {"source": "imported"}, format="json")
    not_object = client.post("/api/projects/alpha/snapshots/", [1, 2], format="json")

    assert bad.status_code == 400 and "min_agreement" in bad.json()["error"]["details"]
    assert empty.status_code == 409 and empty.json()["error"]["code"] == "empty_snapshot"
    assert not_object.status_code == 400


def test_schema_and_offline_docs_are_served(world: World) -> None:
    client = client_for(None)
    schema = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    docs = client.get("/api/docs/")

    assert schema.status_code == 200
    paths = orjson.loads(schema.content)["paths"]
    assert "/api/projects/{slug}/export/" in paths
    export = paths["/api/projects/{slug}/export/"]["get"]
    assert {p["name"] for p in export["parameters"]} >= {"format", "pairs", "split", "since"}
    assert "404" in export["responses"] and "400" in export["responses"]
    html = docs.content.decode()
    assert docs.status_code == 200 and "swagger-ui" in html
    assert "cdn" not in html.lower() and "/static/drf_spectacular_sidecar/" in html
