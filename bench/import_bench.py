"""Import speed: a 10,000-row native JSONL file (4 responses and a ranking each), and its
re-import. Prints rows/s. Run: DATABASE_URL=... .venv/bin/python bench/import_bench.py

It creates (and deletes again) a project named ``bench-import`` in that database; with
``BENCH_DB=name`` it works in a throw-away Postgres database of that name instead (created,
migrated, dropped). ``BENCH_ROWS`` sets the row count.
"""

import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

from bench._db import create_database, drop_database

BENCH_DB = os.environ.get("BENCH_DB")
if BENCH_DB:
    os.environ["DATABASE_URL"] = create_database(BENCH_DB)

import django  # noqa: E402

django.setup()

from feedback.models import Project  # noqa: E402
from feedback.services.imports import items_import  # noqa: E402
from feedback.services.projects import project_create  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", "10000"))


def main() -> None:
    Project.objects.filter(slug="bench-import").delete()
    project = project_create(name="Bench import", slug="bench-import")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench.jsonl"
        with path.open("w", encoding="utf-8") as f:
            for i in range(ROWS):
                row = {
                    "prompt": f"Question {i}: how would you explain topic {i % 97}? " * 3,
                    "responses": [f"Answer {j} to question {i}. " * 20 for j in range(4)],
                    "ranking": [[0], [1, 2], [3]],
                }
                f.write(json.dumps(row) + "\n")
        size = path.stat().st_size
        try:
            start = time.perf_counter()
            result = items_import(project=project, source=path, format="native")
            first = time.perf_counter() - start
            start = time.perf_counter()
            again = items_import(project=project, source=path, format="native")
            second = time.perf_counter() - start
        finally:
            project.delete()
    print(f"file: {ROWS} rows, {size / 1e6:.1f} MB, database {django.db.connection.vendor}")
    print(
        f"import:    {first:.2f} s, {ROWS / first:,.0f} rows/s "
        f"({result.items_created} items, {result.responses_created} responses, "
        f"{result.judgements_created} judgements)"
    )
    print(f"re-import: {second:.2f} s, {ROWS / second:,.0f} rows/s ({again.items_created} created)")


if __name__ == "__main__":
    try:
        if BENCH_DB:
            from django.core.management import call_command

            call_command("migrate", verbosity=0)
        main()
    finally:
        if BENCH_DB:
            django.db.connections.close_all()
            drop_database(BENCH_DB)
