"""A background import on a real Celery worker (Redis broker, Postgres): the API answers
202 at once, the worker imports the file, and polling shows running, progress and then
the result."""

import json
import os
from pathlib import Path
from typing import Any

import pytest
import redis
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection

from feedback.models import ImportJob, Item, Membership
from tests.factories import project_make, user_make
from tests.feedback.api.conftest import client_for
from tests.training.conftest import WORKER_ARGS, CeleryProcess, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_worker_imports_an_uploaded_file_and_the_job_reports_it(
    tmp_path: Path, settings: Any
) -> None:
    broker = str(settings.CELERY_BROKER_URL)
    if not broker.startswith("redis://"):
        pytest.skip("needs CELERY_BROKER_URL=redis://... (make pytest sets it)")
    redis.Redis.from_url(broker).flushdb()
    import_dir = tmp_path / "imports"
    settings.IMPORT_DIR = import_dir  # this process stores; the worker reads the same folder
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": broker,
        "FEEDBACK_IMPORT_DIR": str(import_dir),
        "CONN_MAX_AGE": "0",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    project = project_make(slug="bg")
    admin = user_make("bg-admin", project=project, role=Membership.Role.ADMIN)
    rows = [
        {"prompt": f"Q{n}", "responses": ["a", "b"], "ranking": [[0], [1]]} for n in range(3000)
    ]
    data = "\n".join(json.dumps(r) for r in rows).encode()
    worker = CeleryProcess(
        [*WORKER_ARGS, "-n", "imports-test@%h"], env, tmp_path / "worker.log", " ready."
    )
    try:
        started = client_for(admin).post(
            "/api/projects/bg/imports/",
            {"file": SimpleUploadedFile("big.jsonl", data), "format": "native"},
            format="multipart",
        )
        assert started.status_code == 202
        job_id = started.json()["id"]

        def finished() -> dict[str, Any] | None:
            body: dict[str, Any] = (
                client_for(admin).get(f"/api/projects/bg/imports/{job_id}/").json()
            )
            return body if body["status"] in ImportJob.FINISHED else None

        done = wait_for(finished, timeout=120, what=f"the import job (log: {worker.log})")
        assert done["status"] == "succeeded", (done, worker.output()[-2000:])
        assert done["progress"] == 1.0 and done["bytes_read"] == len(data)
        assert done["result"]["items_created"] == 3000
        assert Item.objects.filter(project=project).count() == 3000
        assert list(import_dir.iterdir()) == []
    finally:
        worker.stop()
        redis.Redis.from_url(broker).flushdb()
