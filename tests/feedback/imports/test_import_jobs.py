"""Background imports: the API stores the file and answers at once; a job imports it with
progress, and reports the result or the row errors. The hostile files of issue 15 (a
gigabyte of blank lines in a small gzip, a JSON array of millions of empty arrays,
nesting 100,000 deep) are refused with row errors."""

import gzip
import io
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from pytest_django import Settings

from feedback.models import ImportJob, Item, Judgement, Membership
from feedback.services.import_jobs import import_job_run
from tests.factories import project_make, user_make
from tests.feedback.api.conftest import client_for

pytestmark = pytest.mark.django_db

GOOD = {"prompt": "Hi", "responses": ["Hello.", "Hey."], "ranking": [[0], [1]]}


@pytest.fixture(autouse=True)
def import_dir(settings: Settings, tmp_path: Path) -> Path:
    settings.IMPORT_DIR = tmp_path / "imports"
    return settings.IMPORT_DIR


@pytest.fixture
def admin(db: Any) -> Any:
    project = project_make(slug="imp")
    return user_make("imp-admin", project=project, role=Membership.Role.ADMIN)


def upload(name: str, data: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, data, content_type="application/octet-stream")


def start(admin: Any, name: str, data: bytes, format: str = "native") -> dict[str, Any]:
    response = client_for(admin).post(
        "/api/projects/imp/imports/",
        {"file": upload(name, data), "format": format},
        format="multipart",
    )
    assert response.status_code == 202, response.content
    body: dict[str, Any] = response.json()
    return body


def run_and_read(admin: Any, job_id: int) -> dict[str, Any]:
    import_job_run(job_id=job_id)
    response = client_for(admin).get(f"/api/projects/imp/imports/{job_id}/")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_starting_an_import_stores_the_file_and_answers_at_once(
    admin: Any, import_dir: Path, django_capture_on_commit_callbacks: Any
) -> None:
    rows = b"\n".join(json.dumps({**GOOD, "prompt": f"Q{n}"}).encode() for n in range(20))
    with django_capture_on_commit_callbacks(execute=False) as queued:
        job = start(admin, "rows.jsonl", rows)
    assert job["status"] == "queued" and job["progress"] == 0.0
    assert job["file_bytes"] == len(rows) and job["filename"] == "rows.jsonl"
    assert len(queued) == 1  # the task is sent once the job row is committed
    assert Item.objects.count() == 0
    assert [p.read_bytes() for p in import_dir.iterdir()] == [rows]

    done = run_and_read(admin, job["id"])
    assert done["status"] == "succeeded", done
    assert done["progress"] == 1.0 and done["rows_read"] == 20
    assert done["result"]["items_created"] == 20 and done["result"]["judgements_created"] == 20
    assert Judgement.objects.count() == 20
    assert list(import_dir.iterdir()) == []  # the stored upload is removed


def test_a_bad_row_fails_the_job_with_its_row_errors_and_writes_nothing(admin: Any) -> None:
    rows = json.dumps(GOOD) + "\n" + json.dumps({"prompt": "Hi", "responses": ["x"]}) + "\n"
    job = start(admin, "bad.jsonl", rows.encode())
    done = run_and_read(admin, job["id"])
    assert done["status"] == "failed"
    assert done["error_count"] == 1
    assert done["errors"] == [
        {"row": 2, "field": "responses", "message": done["errors"][0]["message"]}
    ]
    assert "at least two" in done["errors"][0]["message"]
    assert Item.objects.count() == 0


def test_a_gigabyte_of_blank_lines_in_a_small_gzip_is_refused(
    admin: Any, settings: Settings
) -> None:
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", compresslevel=9) as out:
        for _ in range(128):
            out.write(b"\n" * (8 << 20))
    assert len(buffer.getvalue()) < 2_000_000
    job = start(admin, "blank.jsonl.gz", buffer.getvalue())
    done = run_and_read(admin, job["id"])
    assert done["status"] == "failed"
    assert done["errors"][0]["field"] == "file"
    assert "decompresses to more than the import limit" in done["errors"][0]["message"]


def test_blank_lines_within_the_limit_are_counted_not_collected(admin: Any) -> None:
    data = gzip.compress(b"\n" * (20 << 20) + json.dumps(GOOD).encode() + b"\n[]\n")
    job = start(admin, "blank-then-rows.jsonl.gz", data)
    done = run_and_read(admin, job["id"])
    assert done["status"] == "failed"
    # Blank lines count as rows' line numbers: the bad row is named by its line.
    assert done["errors"] == [
        {"row": (20 << 20) + 2, "field": None, "message": "must be a JSON object, not a list"}
    ]


def test_a_json_array_of_millions_of_empty_arrays_is_refused_with_row_errors(
    admin: Any,
) -> None:
    data = gzip.compress(b"[" + b"[]," * 30_000_000 + b"[]]", compresslevel=9)
    job = start(admin, "arrays.json.gz", data)
    done = run_and_read(admin, job["id"])
    assert done["status"] == "failed"
    assert done["errors"][0] == {
        "row": 1,
        "field": None,
        "message": "must be a JSON object, not a list",
    }
    assert "reading stopped after 1000" in done["message"]
    assert done["error_count"] == 1000


@pytest.mark.parametrize("array", [False, True], ids=["json-lines", "json-array"])
def test_a_row_nested_100000_deep_is_a_row_error(admin: Any, array: bool) -> None:
    deep = '{"prompt": "Hi", "responses": ["a", "b"], "metadata": {"x": ' + "[" * 100_000
    deep += "]" * 100_000 + "}}"
    good = json.dumps(GOOD)
    text = f"[{good},{deep}]" if array else f"{good}\n{deep}\n"
    job = start(admin, "deep.jsonl", text.encode())
    done = run_and_read(admin, job["id"])
    assert done["status"] == "failed"
    assert done["errors"] == [{"row": 2, "field": None, "message": "nests deeper than 64 levels"}]


def test_nul_surrogates_and_huge_integers_in_rows_are_row_errors(admin: Any) -> None:
    rows = [
        json.dumps({**GOOD, "prompt": "a\u0000b"}),
        json.dumps({**GOOD, "prompt": "\ud800"}),
        json.dumps({**GOOD, "metadata": {"n": 2**64}}),
        json.dumps({**GOOD, "metadata": {"n": float("nan")}}),
    ]
    job = start(admin, "text.jsonl", "\n".join(rows).encode())
    done = run_and_read(admin, job["id"])
    assert done["status"] == "failed"
    messages = {e["row"]: e["message"] for e in done["errors"]}
    assert "NUL" in messages[1] and "surrogate" in messages[2]
    assert messages[3] == "metadata.n: integers must fit in 64 bits"
    assert "metadata.n: numbers must be finite" in messages[4]


def test_only_project_admins_start_or_read_imports(admin: Any) -> None:
    project = admin.memberships.get().project
    annotator = user_make("imp-annotator", project=project)
    outsider = user_make("imp-outsider")
    data = {"file": upload("r.jsonl", json.dumps(GOOD).encode()), "format": "native"}
    assert client_for(annotator).post("/api/projects/imp/imports/", data).status_code == 403
    assert client_for(outsider).get("/api/projects/imp/imports/").status_code == 404
    job = start(admin, "r.jsonl", json.dumps(GOOD).encode())
    assert client_for(annotator).get(f"/api/projects/imp/imports/{job['id']}/").status_code == 403
    listed = client_for(admin).get("/api/projects/imp/imports/").json()
    assert [j["id"] for j in listed["results"]] == [job["id"]]


def test_a_file_over_the_limit_is_refused_before_a_job_exists(
    admin: Any, settings: Settings
) -> None:
    settings.FEEDBACK_IMPORT_MAX_BYTES = 100
    response = client_for(admin).post(
        "/api/projects/imp/imports/",
        {"file": upload("big.jsonl", b"x" * 1000), "format": "native"},
        format="multipart",
    )
    assert response.status_code == 400
    assert "file" in response.json()["error"]["details"]
    assert ImportJob.objects.count() == 0


def test_a_second_delivery_of_a_finished_job_does_nothing(admin: Any) -> None:
    job = start(admin, "r.jsonl", json.dumps(GOOD).encode())
    assert import_job_run(job_id=job["id"]) == "succeeded"
    assert import_job_run(job_id=job["id"]) == "succeeded"
    assert Item.objects.count() == 1
    assert ImportJob.objects.get(pk=job["id"]).attempts == 1
