"""Real data trains as it is: what the import accepts, a job trains on (issue 11).

HH-RLHF has replies where the preferred answer is to say nothing; the import keeps them as
empty responses, the export writes them, and a reward job on a real worker trains on them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from feedback.models import Membership, Project, Response
from feedback.services.imports import items_import
from tests.preference_texts import BAD, GOOD, QUESTIONS
from training.artifacts import artifact_absolute
from training.models import ModelVersion, TrainingJob
from training.services import job_create
from training.services.snapshots import snapshot_create

from .conftest import FAST, wait_for

pytestmark = [pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _hh_file(path: Path, n: int) -> Path:
    lines = []
    for i in range(n):
        prompt = f"\n\nHuman: {QUESTIONS[i % 8]} ({i})\n\nAssistant:"
        good, bad = f" {GOOD[i % 8]}", f" {BAD[i % 8]}"
        if i % 4 == 0:
            good = ""  # saying nothing was preferred
        if i % 4 == 1:
            bad = ""
        lines.append(json.dumps({"chosen": prompt + good, "rejected": prompt + bad}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_hh_rows_with_an_empty_reply_train_a_reward_model(
    start_worker: Any, tmp_path: Path
) -> None:
    project = Project.objects.create(name="HH", slug="hh", responses_per_item=2)
    admin = User.objects.create_user("hh-admin", password="pw-admin-123456")
    Membership.objects.create(project=project, user=admin, role="admin")
    result = items_import(
        project=project, source=_hh_file(tmp_path / "hh.jsonl", 16), format="hh-rlhf"
    )
    assert result.items_created == 16
    assert Response.objects.filter(item__project=project, content="").count() == 8

    snapshot = snapshot_create(project=project, params={"format": "trl"})
    start_worker()
    job = job_create(
        project=project,
        kind="reward",
        launched_by=f"admin:{admin.username}",
        user=admin,
        snapshot=snapshot,
        config=FAST,
    )

    def finished() -> bool:
        job.refresh_from_db()
        return job.status in TrainingJob.FINISHED

    wait_for(
        finished,
        timeout=180,
        what="the reward job",
    )
    assert job.status == "succeeded", job.error + job.log_tail
    version = ModelVersion.objects.get(job=job)
    card = json.loads((artifact_absolute(version.artifact_path) / "card.json").read_text())
    assert card["dataset"]["rows"] == 16
    assert "reward_format" in card and "truncation" in card
