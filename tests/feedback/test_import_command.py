"""The import_items management command: a thin door that reports user mistakes plainly."""

import os
import subprocess
import sys
import threading
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.db import connection

from feedback.models import Item, Judgement, Project
from feedback.services.imports import ImportResult, items_import
from feedback.services.projects import project_create
from tests.feedback.importing import jsonl_write

ROOT = Path(__file__).resolve().parents[2]
GOOD = {"prompt": "Hi", "responses": ["Hello.", "Hey."], "ranking": [[0], [1]]}


@pytest.mark.django_db
def test_command_creates_the_project_and_reports_counts(tmp_path: Path) -> None:
    path = jsonl_write(tmp_path / "rows.jsonl", [GOOD, {**GOOD, "prompt": "Bye"}])
    out = StringIO()
    call_command(
        "import_items", str(path), project="demo", format="native", create_project=True, stdout=out
    )
    assert "2 items created" in out.getvalue()
    assert Project.objects.get(slug="demo").items.count() == 2


@pytest.mark.django_db
def test_command_refuses_an_unknown_project_without_create_flag(tmp_path: Path) -> None:
    path = jsonl_write(tmp_path / "rows.jsonl", [GOOD])
    with pytest.raises(CommandError, match="--create-project"):
        call_command("import_items", str(path), project="nope", format="native")


@pytest.mark.django_db
def test_command_lists_bad_rows_and_raises_command_error(tmp_path: Path) -> None:
    project_create(name="P", slug="p")
    path = jsonl_write(tmp_path / "rows.jsonl", [GOOD, {"prompt": "Hi", "responses": ["one"]}])
    err = StringIO()
    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_items", str(path), project="p", format="native", stderr=err)
    assert "row 2, field 'responses': must hold at least two responses" in err.getvalue()
    assert Item.objects.count() == 0


def test_command_exits_non_zero_without_traceback(transactional_db: None, tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("{broken\n")
    env = {**os.environ, "DATABASE_URL": _database_url()}
    args = ["import_items", "--project", "cli", "--create-project", "--format", "native"]
    result = subprocess.run(
        [sys.executable, "manage.py", *args, str(path)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    assert "row 1: is not valid JSON" in result.stderr


def _database_url() -> str:
    s = connection.settings_dict
    password = f":{s['PASSWORD']}" if s.get("PASSWORD") else ""
    return f"postgres://{s['USER']}{password}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


@pytest.mark.django_db(transaction=True)
def test_two_concurrent_imports_of_one_file_create_each_item_once(tmp_path: Path) -> None:
    project = project_create(name="P", slug="p")
    path = jsonl_write(tmp_path / "rows.jsonl", [{**GOOD, "prompt": f"Q{i}"} for i in range(200)])
    results: list[ImportResult] = []
    failures: list[BaseException] = []

    def run() -> None:
        try:
            results.append(items_import(project=project, source=path, format="native"))
        except BaseException as exc:  # surfaced below
            failures.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not failures
    assert sorted(r.items_created for r in results) == [0, 200]
    assert Item.objects.count() == 200
    assert Judgement.objects.count() == 200
