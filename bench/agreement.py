"""Agreement figures and the agreement endpoint's speed.

1. PandaLM's real three-annotator test set (``../shared/data/pandalm_testset-v1.json``,
   read in place, never copied) imported through the native ``judgements`` field into a
   pairwise project: Krippendorff's alpha and Fleiss' kappa with bootstrap 95% intervals,
   each annotator's Dawid-Skene reliability, and the endpoint's time.
2. ``BENCH_ITEMS`` (10,000) synthetic items x 3 annotators (4 responses, rankings with
   ties): the endpoint's time.

Each endpoint time is given **cold** (the report of this judgement state is not in the
cache: its key is deleted first, so the request computes it) and **warm** (kept in the
shared cache, ``CACHE_URL``; the request reads the judgement state, the cached report
and the gold figures). Both are medians over the runs.

Run: ``.venv/bin/python bench/agreement.py`` (``--smoke``: 300 items). It makes its own
database ``feedback_bench_agreement`` (``BENCH_DB``) and drops it at the end.
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
from bench._data import SHARED_DATA, pandalm_native_rows
from bench._db import create_database, drop_database
from bench._pairs import ranked_rows

SMOKE = "--smoke" in sys.argv
DB = os.environ.get("BENCH_DB", "feedback_bench_agreement")
ITEMS = 300 if SMOKE else int(os.environ.get("BENCH_ITEMS", "10000"))
PANDALM = SHARED_DATA / "pandalm_testset-v1.json"

os.environ["DATABASE_URL"] = create_database(DB)
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("ALLOWED_HOSTS", "*")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.core.management import call_command  # noqa: E402
from rest_framework.test import APIClient  # noqa: E402

from feedback.models import Membership, Project  # noqa: E402
from feedback.quality.agreement import agreement_cache_key  # noqa: E402
from feedback.quality.metrics import BOOTSTRAP_SAMPLES  # noqa: E402
from feedback.services.imports import items_import  # noqa: E402


def _import(project: Project, rows: list[Any], source: str) -> None:
    data = b"\n".join(json.dumps(r).encode() for r in rows)
    items_import(project=project, source=io.BytesIO(data), format="native", source_name=source)


def _get(client: APIClient, slug: str) -> tuple[float, dict[str, object]]:
    start = time.perf_counter()
    answer = client.get(f"/api/projects/{slug}/agreement/")
    seconds = time.perf_counter() - start
    assert answer.status_code == 200, answer.content[:300]
    return seconds, answer.json()


def _time_endpoint(
    client: APIClient, slug: str, runs: int
) -> tuple[float, float, dict[str, object]]:
    """Median cold and warm times of the endpoint, and its answer."""
    project = Project.objects.get(slug=slug)
    key = agreement_cache_key(project=project, samples=BOOTSTRAP_SAMPLES)
    cold: list[float] = []
    warm: list[float] = []
    body: dict[str, object] = {}
    for _ in range(runs):
        cache.delete(key)
        seconds, body = _get(client, slug)
        cold.append(seconds)
        for _ in range(3):
            seconds, warm_body = _get(client, slug)
            assert warm_body == body, "the cached report differs from the computed one"
            warm.append(seconds)
    return statistics.median(cold), statistics.median(warm), body


def _times(cold: float, warm: float, runs: int) -> str:
    return (
        f"endpoint cold {cold * 1000:.0f} ms, warm {warm * 1000:.1f} ms "
        f"(median of {runs} / {3 * runs})"
    )


def _ci(body: dict[str, object], key: str) -> str:
    ci = body.get(f"{key}_ci")
    value = body.get(key)
    if value is None:
        return "null"
    assert isinstance(value, float)
    if isinstance(ci, list):
        return f"{value:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]"
    return f"{value:.3f}"


def main() -> None:
    call_command("migrate", verbosity=0)
    admin = User.objects.create_user("bench-admin", password="x", is_staff=True)
    client = APIClient()
    client.force_authenticate(admin)
    runs = 1 if SMOKE else 3

    if PANDALM.exists():
        project = Project.objects.create(name="PandaLM", slug="pandalm", mode="pairwise")
        Membership.objects.create(project=project, user=admin, role="admin")
        rows = pandalm_native_rows(PANDALM)[: 300 if SMOKE else None]
        _import(project, rows, "pandalm")
        cold, warm, body = _time_endpoint(client, "pandalm", runs)
        print(f"PandaLM test set: {len(rows)} items x 3 annotators (pairwise)")
        print(f"  Krippendorff's alpha (ordinal): {_ci(body, 'alpha')}")
        print(f"  Fleiss' kappa:                  {_ci(body, 'kappa')}")
        print(f"  agreement rate:                 {body['agreement_rate']:.3f}")
        for a in body["annotators"]:  # type: ignore[attr-defined]
            print(
                f"  {a['username']}: reliability {a['reliability']:.3f}, "
                f"mean tau-b {a['tau_b_mean']:.3f}, {a['items']} items"
            )
        print(f"  {_times(cold, warm, runs)}")
    else:
        print(f"PandaLM file not found at {PANDALM}: skipped")

    project = Project.objects.create(name="Synthetic", slug="synthetic")
    rows = ranked_rows(ITEMS, random.Random(0))
    _import(project, rows, "sim")
    cold, warm, body = _time_endpoint(client, "synthetic", runs)
    print(f"synthetic: {ITEMS} items x 3 annotators, 4 responses, ties")
    print(f"  alpha {_ci(body, 'alpha')}; {_times(cold, warm, runs)}")


if __name__ == "__main__":
    try:
        main()
    finally:
        django.db.connections.close_all()
        drop_database(DB)
