"""Fuzz the whole API from its own OpenAPI schema (schemathesis): whatever the input, no
5xx, and every answer (status, headers, body) matches what the schema documents.

Sized to matter and still fit CI: ``FUZZ_EXAMPLES`` (default 40) examples per operation as
a staff admin, and a quarter of that as an annotator (whose answers are blind, so only
"no 5xx", status codes and content types are checked). Path slugs point at a real
project so the generated parameters reach the real code (the export's parser, the
services) rather than stopping at a 404.
"""

import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core import signals
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from config.wsgi import application
from core.tokens import token_issue
from feedback.models import Judgement, Membership
from tests.factories import items_make, project_make, response_ids

MAX_EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "40"))
# What the API promises: no server error, and status, content type, headers and body as
# documented. (Schemathesis' positive/negative data checks are left out: business rules,
# such as "the ranking names every response once", refuse schema-valid input by design.)
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Loaded through the application itself, in-process: the schema view needs no database.
schema = schemathesis.openapi.from_wsgi("/api/schema/", application)


@pytest.fixture
def in_process_requests(db: Any) -> Iterator[None]:
    """As Django's test client does: requests served in-process must not close the test's
    database connection (and with it the transaction the test runs in)."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def fuzz_token(in_process_requests: None, settings: Any, tmp_path: Any) -> str:
    settings.SNAPSHOT_DIR = tmp_path
    project = project_make(slug="fuzz", ask_ratings=True)
    user = User.objects.create_user("fuzzer", is_staff=True)
    Membership.objects.create(project=project, user=user, role=Membership.Role.ADMIN)
    annotator = User.objects.create_user("fuzz-annotator")
    for item in items_make(project=project, count=3, responses=3):
        ids = response_ids(item)
        Judgement.objects.create(
            item=item,
            annotator=annotator,
            ranking=[[i] for i in ids],
            ratings={str(i): n + 1 for n, i in enumerate(ids)},
        )
    Membership.objects.create(
        project=project, user=User.objects.create_user("fuzz-judge"), role="annotator"
    )
    return token_issue(user=user)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_answers_every_generated_request_as_documented(case: Any, fuzz_token: str) -> None:
    if "slug" in (case.path_parameters or {}):
        case.path_parameters["slug"] = "fuzz"
    case.call_and_validate(headers={"Authorization": f"Token {fuzz_token}"}, checks=CHECKS)


@pytest.mark.slow
@schema.parametrize()
@settings(
    max_examples=max(MAX_EXAMPLES // 4, 1),
    deadline=None,
    derandomize=True,
    suppress_health_check=list(HealthCheck),
)
def test_api_never_fails_an_annotator(case: Any, fuzz_token: str) -> None:
    if "slug" in (case.path_parameters or {}):
        case.path_parameters["slug"] = "fuzz"
    token = token_issue(user=User.objects.get(username="fuzz-judge"))
    case.call_and_validate(
        headers={"Authorization": f"Token {token}"},
        checks=[not_a_server_error, status_code_conformance, content_type_conformance],
    )
