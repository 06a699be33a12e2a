"""The review queue's speed: one page of the queue on a large project, and one rejection.

``BENCH_ITEMS`` (10,000) synthetic items x 3 annotators (4 responses, rankings with ties,
imported through the native ``judgements`` field; 30% of judgements off the item's true
order, so many items have low agreement): the median time of the review page (its first
page of 20 items, as an admin's browser asks for it), the queries it ran, and the time of
one rejection through the API.

Run: ``.venv/bin/python bench/review.py`` (``--smoke``: 300 items). It makes its own
database ``feedback_bench_review`` (``BENCH_DB``) and drops it at the end.
"""

import io
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench._db import create_database, drop_database
from bench._pairs import ranked_rows

SMOKE = "--smoke" in sys.argv
DB = os.environ.get("BENCH_DB", "feedback_bench_review")
ITEMS = 300 if SMOKE else int(os.environ.get("BENCH_ITEMS", "10000"))

os.environ["DATABASE_URL"] = create_database(DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "*")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from feedback.models import Judgement, Project  # noqa: E402
from feedback.services.imports import items_import  # noqa: E402


def main() -> None:
    call_command("migrate", verbosity=0)
    admin = User.objects.create_user("bench-admin", password="x", is_staff=True)
    project = Project.objects.create(name="Synthetic", slug="synthetic", overlap=3)
    data = b"\n".join(json.dumps(r).encode() for r in ranked_rows(ITEMS, random.Random(0)))
    items_import(project=project, source=io.BytesIO(data), format="native", source_name="sim")

    page = Client()
    page.force_login(admin)
    api = APIClient()
    api.force_authenticate(admin)
    runs = 1 if SMOKE else 5
    queries: list[str] = []

    def count(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        queries.append(sql)
        return execute(sql, params, many, context)

    def get() -> tuple[float, str]:
        start = time.perf_counter()
        answer = page.get("/p/synthetic/review/")
        assert answer.status_code == 200, answer.content[:300]
        return time.perf_counter() - start, answer.content.decode()

    with connection.execute_wrapper(count):
        cold, text = get()
    warm = statistics.median(get()[0] for _ in range(runs))
    total = text.split('id="review-total">', 1)[1].split(" item", 1)[0]
    print(f"synthetic: {ITEMS} items x 3 annotators, 4 responses, ties; {total} items in the queue")
    print(
        f"  review page (20 items): {cold * 1000:.0f} ms cold (item alphas computed), "
        f"{warm * 1000:.0f} ms warm (median of {runs}); {len(queries)} queries"
    )

    judgement = Judgement.objects.filter(item__project=project, is_current=True).first()
    assert judgement is not None
    start = time.perf_counter()
    made = api.post(
        f"/api/projects/synthetic/judgements/{judgement.pk}/review/",
        {"action": "reject"},
        format="json",
    )
    assert made.status_code == 201, made.content[:300]
    print(f"  one rejection through the API: {(time.perf_counter() - start) * 1000:.0f} ms")
    print(f"  review page after it: {get()[0] * 1000:.0f} ms (item alphas computed again)")


if __name__ == "__main__":
    try:
        main()
    finally:
        django.db.connections.close_all()
        drop_database(DB)
