"""Bad input is refused with the row, the field and the reason, and nothing is written."""

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from pytest_django import Settings

from core.errors import ValidationError
from feedback.models import Item, Judgement, Project, Response
from feedback.services.imports import MAX_ERRORS, items_import
from feedback.services.projects import project_create
from tests.feedback.importing import jsonl_write

pytestmark = pytest.mark.django_db

GOOD = {"prompt": "Hi", "responses": ["Hello.", "Hey."], "ranking": [[0], [1]]}


@pytest.fixture
def project() -> Project:
    return project_create(name="Import", slug="import")


def refused(project: Project, source: Any, format: str = "native") -> list[dict[str, Any]]:
    with pytest.raises(ValidationError) as caught:
        items_import(project=project, source=source, format=format)
    assert (Item.objects.count(), Response.objects.count(), Judgement.objects.count()) == (0, 0, 0)
    errors: list[dict[str, Any]] = caught.value.details["errors"]
    assert errors
    return errors


def test_a_line_that_is_not_json_refuses_the_whole_file(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(GOOD) + "\n{not json}\n" + json.dumps(GOOD) + "\n")
    errors = refused(project, path)
    assert len(errors) == 1
    assert errors[0]["row"] == 2
    assert "not valid JSON" in errors[0]["message"]


def test_a_json_array_with_a_syntax_error_names_line_and_column(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_text('[\n  {"prompt": "Hi",\n  "responses": ["a" "b"]}\n]')
    errors = refused(project, path)
    assert errors[0]["field"] == "file"
    assert "not valid JSON (line 3" in errors[0]["message"]


def test_bytes_that_are_not_utf8_are_reported_with_their_row(
    project: Project, tmp_path: Path
) -> None:
    path = tmp_path / "latin1.jsonl"
    path.write_bytes(
        json.dumps(GOOD).encode() + b"\n" + '{"prompt": "café"}'.encode("latin-1") + b"\n"
    )
    errors = refused(project, path)
    assert errors[0]["row"] == 2
    assert "not valid UTF-8" in errors[0]["message"]


def test_a_utf16_file_is_refused_with_a_hint(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "utf16.jsonl"
    path.write_bytes(json.dumps(GOOD).encode("utf-16"))
    errors = refused(project, path)
    assert "UTF-16" in errors[0]["message"]


@pytest.mark.parametrize(
    ("format", "row", "field", "message"),
    [
        ("native", {"prompt": "Hi"}, "responses", "is missing"),
        ("native", {"responses": ["a", "b"]}, "messages", "exactly one of 'prompt'"),
        ("native", {"prompt": "Hi", "responses": ["only one"]}, "responses", "at least two"),
        ("native", {"prompt": "Hi", "responses": "ab"}, "responses", "must be a list"),
        ("native", {"prompt": 3, "responses": ["a", "b"]}, "prompt", "must be a string"),
        (
            "native",
            {"messages": [{"role": "bot", "content": "x"}], "responses": ["a", "b"]},
            "messages[0]",
            "role must be one of",
        ),
        (
            "native",
            {"prompt": "Hi", "responses": ["a", "b"], "ranking": [[0, 1], [1]]},
            "ranking",
            "response 1 is ranked more than once",
        ),
        (
            "native",
            {"prompt": "Hi", "responses": ["a", "b", "c"], "ranking": [[0], [1]]},
            "ranking",
            "responses [2] are not ranked",
        ),
        (
            "native",
            {"prompt": "Hi", "responses": ["a", "b"], "ranking": [[0], [5]]},
            "ranking",
            "does not belong",
        ),
        ("native", ["not", "an", "object"], None, "must be a JSON object"),
        ("trl", {"prompt": "Hi", "rejected": "b"}, "chosen", "is missing"),
        ("trl", {"prompt": "Hi", "chosen": "a", "rejected": ["b"]}, "rejected", "must be a string"),
        ("hh-rlhf", {"chosen": "no transcript", "rejected": "x"}, "chosen", "does not parse"),
        (
            "hh-rlhf",
            {"chosen": "\n\nHuman: Hi", "rejected": "\n\nHuman: Hi"},
            "chosen",
            "must end with an Assistant turn",
        ),
        ("sharegpt", {"chosen": "a", "rejected": "b"}, "conversations", "is missing"),
        (
            "sharegpt",
            {"conversations": [{"from": "tool", "value": "x"}], "chosen": "a", "rejected": "b"},
            "conversations[0].from",
            "must be one of",
        ),
        ("oasst", {"prompt": {"role": "prompter", "text": "x"}}, "prompt.message_id", "non-empty"),
    ],
)
def test_bad_row_names_row_field_and_reason(
    project: Project, tmp_path: Path, format: str, row: Any, field: str | None, message: str
) -> None:
    path = jsonl_write(tmp_path / "rows.jsonl", [GOOD if format == "native" else row, row])
    errors = refused(project, path, format)
    assert errors[-1]["row"] == 2
    assert errors[-1]["field"] == field
    assert message in errors[-1]["message"]


def test_many_bad_rows_are_reported_at_once_up_to_a_cap(project: Project, tmp_path: Path) -> None:
    rows = [GOOD] + [{"prompt": "Hi", "responses": ["x"]}] * (MAX_ERRORS + 10)
    with pytest.raises(ValidationError) as caught:
        items_import(
            project=project, source=jsonl_write(tmp_path / "r.jsonl", rows), format="native"
        )
    details = caught.value.details
    assert details["error_count"] == MAX_ERRORS + 10
    assert [e["row"] for e in details["errors"]] == list(range(2, MAX_ERRORS + 2))
    assert "60 error(s)" in caught.value.message
    assert "row 2, field 'responses'" in caught.value.message


def test_an_external_id_used_twice_in_a_file_is_an_error(project: Project, tmp_path: Path) -> None:
    rows = [{**GOOD, "external_id": "x"}, {**GOOD, "prompt": "Other", "external_id": "x"}]
    errors = refused(project, jsonl_write(tmp_path / "r.jsonl", rows))
    assert errors == [{"row": 2, "field": "external_id", "message": "'x' is also on row 1"}]


def test_a_file_over_the_limit_is_refused_before_reading_it(
    project: Project, tmp_path: Path, settings: Settings
) -> None:
    settings.FEEDBACK_IMPORT_MAX_BYTES = 1000
    path = jsonl_write(tmp_path / "big.jsonl", [GOOD] * 100)
    errors = refused(project, path)
    assert errors[0]["field"] == "file"
    assert "more than the import limit of 1000 bytes" in errors[0]["message"]


def test_a_stream_over_the_limit_is_refused_while_streaming(
    project: Project, settings: Settings
) -> None:
    settings.FEEDBACK_IMPORT_MAX_BYTES = 1000
    data = ("".join(json.dumps(GOOD) + "\n" for _ in range(100))).encode()
    stream = io.BytesIO(data)
    errors = refused(project, stream)
    assert "more than the import limit" in errors[0]["message"]
    # Refused after reading a little over the limit, not the whole stream.
    assert stream.tell() < 20_000


def test_a_small_gzip_that_inflates_past_the_limit_is_refused(
    project: Project, tmp_path: Path, settings: Settings
) -> None:
    settings.FEEDBACK_IMPORT_MAX_BYTES = 100_000
    padding = " " * 1_000_000  # compresses to about 1 KB
    path = tmp_path / "bomb.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(GOOD) + padding + "\n").encode()))
    assert path.stat().st_size < 100_000
    errors = refused(project, path)
    assert "decompresses to more than the import limit" in errors[0]["message"]


def test_a_broken_gzip_file_is_refused(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(GOOD) + "\n").encode() * 50)[:40])
    errors = refused(project, path)
    assert "not valid gzip" in errors[0]["message"]


def test_gzip_json_array_is_read(project: Project, tmp_path: Path) -> None:
    path = tmp_path / "rows.json.gz"
    path.write_bytes(gzip.compress(json.dumps([GOOD, {**GOOD, "prompt": "Bye"}]).encode()))
    result = items_import(project=project, source=path, format="native")
    assert result.items_created == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"  \n\n", "empty"), (b"[]", "no rows"), (b'"text"', "JSON object")],
)
def test_empty_or_rowless_files_are_refused(
    project: Project, tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "f.jsonl"
    path.write_bytes(content)
    errors = refused(project, path)
    assert message in errors[0]["message"]


def test_unknown_format_and_missing_file_are_refused(project: Project, tmp_path: Path) -> None:
    assert refused(project, tmp_path / "x.jsonl", "csv")[0]["field"] == "format"
    assert "No such file" in refused(project, tmp_path / "missing.jsonl")[0]["message"]
