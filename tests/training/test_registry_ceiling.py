"""The registry shows each reward model's held-out accuracy beside its project's human
agreement ceiling (alpha, and the agreement rate in a pairwise project)."""

import io
import re

import orjson
import pytest
from django.test import Client

from feedback.models import Membership
from feedback.quality.agreement import project_agreement
from feedback.services.imports import items_import
from tests.factories import project_make, user_make
from training.models import ModelVersion

pytestmark = pytest.mark.django_db


def test_a_reward_model_is_shown_beside_the_human_agreement_ceiling() -> None:
    project = project_make(slug="ceiling", mode="pairwise")
    admin = user_make("boss", project=project, role=Membership.Role.ADMIN)
    rows = [
        {
            "external_id": f"q{n}",
            "prompt": f"Question {n}?",
            "responses": [f"one {n}", f"two {n}"],
            "judgements": [
                {"annotator": "a", "verdict": "A"},
                {"annotator": "b", "verdict": "A" if n % 5 else "B"},
                {"annotator": "c", "verdict": "A" if n % 3 else "tie"},
            ],
        }
        for n in range(30)
    ]
    data = b"\n".join(orjson.dumps(row) for row in rows)
    items_import(project=project, source=io.BytesIO(data), format="native", source_name="lab")
    ModelVersion.objects.create(
        project=project, kind="reward", number=1, artifact_path="jobs/1/model",
        heldout_accuracy=0.81, heldout_accuracy_low=0.75, heldout_accuracy_high=0.86,
        heldout_pairs=200,
    )  # fmt: skip
    client = Client()
    client.force_login(admin)
    html = client.get("/training/models/?project=ceiling").content.decode()
    report = project_agreement(project=project, samples=0)
    assert report.agreement_rate is not None and report.alpha.value is not None
    ceiling = html.split("data-ceiling>")[1].split("</span>")[0]
    figures = re.fullmatch(
        r"human ceiling: agreement ([0-9.]+) · alpha ([0-9.-]+) \(30 items\)", ceiling
    )
    assert figures is not None, ceiling
    assert float(figures[1]) == pytest.approx(report.agreement_rate, abs=6e-4)
    assert float(figures[2]) == pytest.approx(report.alpha.value, abs=6e-4)
    assert "81.0%" in html
