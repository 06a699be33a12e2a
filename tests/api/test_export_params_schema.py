"""The export's parameters have one definition (``feedback.export.params``): the OpenAPI
schema lists exactly those, for the export's query and the snapshot's body, and the export,
the snapshot API and the job form's fresh snapshot accept and refuse each the same way."""

import json
from typing import Any

import orjson
import pytest
from django.http import QueryDict

from feedback.export.params import KNOWN_FIELDS, PARAMS, ParamSpec
from tests.feedback.api.conftest import World, client_for
from training.job_form import EXPORT_FIELDS, job_form_submit

pytestmark = pytest.mark.django_db

# What a value needs from the others to be accepted on its own.
CONTEXT = {"test_fraction": {"split": "train"}}


def good_value(spec: ParamSpec) -> str:
    if spec.kind == "choice":
        return spec.choices[-1]
    return {
        "number": str(spec.high),
        "whole": str(int(spec.low)),
        "moment": "2020-01-31T12:00:00Z",
        "flag": "true",
        "text": "annotator-a",
    }[spec.kind]


def bad_value(spec: ParamSpec) -> str:
    return {
        "choice": "no-such-choice",
        "number": str(spec.high + 1),
        "whole": "1.5",
        "moment": "yesterday",
        "flag": "maybe",
        "text": "x" * (spec.max_length + 1),
    }[spec.kind]


def typed(spec: ParamSpec, text: str) -> object:
    """The value as a JSON body may carry it (a number or a boolean, not a string)."""
    if spec.kind == "number":
        return float(text)
    if spec.kind == "whole":
        return float(text) if "." in text else int(text)
    if spec.kind == "flag" and text in ("true", "false"):
        return text == "true"
    return text


def openapi() -> dict[str, Any]:
    answer = client_for(None).get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert answer.status_code == 200
    schema: dict[str, Any] = orjson.loads(answer.content)
    return schema


def test_openapi_lists_exactly_the_export_parameters_for_the_export_and_the_snapshot() -> None:
    schema = openapi()
    query = {
        p["name"]: p["schema"]
        for p in schema["paths"]["/api/projects/{slug}/export/"]["get"]["parameters"]
        if p["in"] == "query"
    }
    body_ref = schema["paths"]["/api/projects/{slug}/snapshots/"]["post"]["requestBody"]
    ref = body_ref["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[-1]
    body = schema["components"]["schemas"][ref]["properties"]

    assert set(query) == set(body) == KNOWN_FIELDS
    for spec in PARAMS:
        if spec.kind == "choice":
            assert query[spec.name]["enum"] == list(spec.choices), spec.name
            enum_ref = body[spec.name]["allOf"][0]["$ref"].rsplit("/", 1)[-1]
            assert schema["components"]["schemas"][enum_ref]["enum"] == list(spec.choices)
        if spec.kind in ("number", "whole"):
            assert (query[spec.name]["minimum"], query[spec.name]["maximum"]) == (
                spec.low,
                spec.high,
            ), spec.name


def test_the_job_form_offers_only_export_parameters() -> None:
    assert set(EXPORT_FIELDS) <= KNOWN_FIELDS


def outcome(answer: Any) -> tuple[str, Any]:
    """("ok", None) for an accepted request, ("refused", details) for a 400."""
    if answer.status_code == 400:
        return "refused", answer.json()["error"]["details"]
    # A snapshot of nothing is a 409: the parameters were accepted.
    assert answer.status_code in (200, 201, 409), (answer.status_code, answer.content[:300])
    return "ok", None


@pytest.mark.parametrize("spec", PARAMS, ids=[spec.name for spec in PARAMS])
@pytest.mark.parametrize("which", ["good", "bad"])
def test_export_snapshot_and_job_form_accept_and_refuse_each_parameter_alike(
    world: World, settings: Any, tmp_path: Any, spec: ParamSpec, which: str
) -> None:
    settings.SNAPSHOT_DIR = tmp_path
    client = client_for(world.admin_a)
    value = good_value(spec) if which == "good" else bad_value(spec)
    query = {**CONTEXT.get(spec.name, {}), spec.name: value}

    export = outcome(client.get("/api/projects/alpha/export/", query))
    snapshots = [
        outcome(
            client.post(
                "/api/projects/alpha/snapshots/",
                data=json.dumps(body).encode(),
                content_type="application/json",
            )
        )
        for body in (query, {**query, spec.name: typed(spec, value)})
    ]

    expected = "ok" if which == "good" else "refused"
    assert export[0] == expected, export
    if which == "bad":
        assert spec.name in export[1]
    assert snapshots == [export, export]
    if spec.name in EXPORT_FIELDS:
        post = QueryDict(mutable=True)
        post.update({"kind": "dpo", "project": "alpha", "fresh_snapshot": "1"})
        post.update({f"export-{name}": text for name, text in query.items()})
        errors = job_form_submit(user=world.admin_a, post=post).errors.by_field
        form = {k.removeprefix("export-"): v for k, v in errors.items() if k.startswith("export-")}
        assert form == (export[1] or {}), errors
