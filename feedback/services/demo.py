"""The demo: two small projects on our own demo set, an admin and three annotators.

Idempotent: running it again creates nothing new and resets the demo accounts' passwords
to the documented demo passwords (so the printed logins always work). The accounts are
for a local demo only; ``demo_load`` refuses to run with ``DJANGO_ENV=production``.
"""

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction

from core.errors import Conflict
from feedback.models import Membership, Project
from feedback.services.imports import items_import
from feedback.services.projects import membership_set, project_create

DEMO_ITEMS = Path(__file__).resolve().parent.parent / "demo" / "demo_items.jsonl"
DEMO_ADMIN = ("admin", "admin-demo-pass")
DEMO_ANNOTATORS = (
    ("alice", "alice-demo-pass"),
    ("bob", "bob-demo-pass"),
    ("carol", "carol-demo-pass"),
)
PAIRWISE_ITEMS = 10

GUIDELINES_RANK = """\
Rank the answers from best to worst.

- **Helpful**: does it answer what was asked, completely and correctly?
- **Honest**: no invented facts; says so when unsure.
- **Clear**: easy to read, no padding.

Put two answers in the same group when you cannot tell them apart. Rate each answer from
1 (useless) to 5 (excellent). Flag an item you cannot judge instead of guessing.
"""

GUIDELINES_PAIRWISE = """\
Pick the better of two answers, or *tie* when they are equally good, or *both bad* when
neither is acceptable. Prefer correct over long, and plain over clever.
"""

PROJECTS: dict[str, dict[str, Any]] = {
    "demo": {
        "name": "Demo: rank answers",
        "description": "Thirty prompts with three or four answers each: code, advice, "
        "summaries and short conversations.",
        "guidelines": GUIDELINES_RANK,
        "mode": Project.Mode.RANK,
        "overlap": 2,
        "ask_ratings": True,
        "rating_scale": 5,
        "responses_per_item": 4,
    },
    "demo-pairwise": {
        "name": "Demo: pick the better answer",
        "description": "Ten prompts, two answers each.",
        "guidelines": GUIDELINES_PAIRWISE,
        "mode": Project.Mode.PAIRWISE,
        "overlap": 1,
        "responses_per_item": 2,
    },
}


@dataclass
class DemoResult:
    projects: list[str] = field(default_factory=list)
    items_created: int = 0
    logins: list[tuple[str, str, str]] = field(default_factory=list)  # (user, password, role)


def demo_load(*, items_path: Path = DEMO_ITEMS) -> DemoResult:
    """Create (or bring back) the demo projects, their items and the demo accounts."""
    if settings.PRODUCTION:
        raise Conflict("The demo accounts have published passwords; refusing in production.")
    result = DemoResult()
    rows = [json.loads(line) for line in items_path.read_text(encoding="utf-8").splitlines()]
    with transaction.atomic():
        admin = _user(*DEMO_ADMIN, staff=True)
        result.logins.append((*DEMO_ADMIN, "admin (staff)"))
        annotators = []
        for username, password in DEMO_ANNOTATORS:
            annotators.append(_user(username, password))
            result.logins.append((username, password, "annotator"))

        for slug, options in PROJECTS.items():
            project = Project.objects.filter(slug=slug).first()
            if project is None:
                project = project_create(slug=slug, **options)
            result.projects.append(slug)
            membership_set(project=project, user=admin, role=Membership.Role.ADMIN)
            for user in annotators:
                membership_set(project=project, user=user, role=Membership.Role.ANNOTATOR)
            project_rows = rows if slug == "demo" else _pairs(rows)
            data = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in project_rows)
            imported = items_import(
                project=project,
                source=io.BytesIO(data.encode("utf-8")),
                format="native",
                source_name="demo",
                filename=items_path.name,
            )
            result.items_created += imported.items_created
    return result


def _user(username: str, password: str, *, staff: bool = False) -> User:
    user, _ = User.objects.get_or_create(username=username)
    user.set_password(password)
    user.is_active = True
    user.is_staff = user.is_superuser = staff
    user.save(update_fields=["password", "is_active", "is_staff", "is_superuser"])
    return user


def _pairs(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The first demo prompts with two of their answers: the first and the last."""
    pairs = []
    for row in rows[:PAIRWISE_ITEMS]:
        responses = row["responses"]
        assert isinstance(responses, list)
        pairs.append(
            {
                **row,
                "external_id": f"pair-{row['external_id']}",
                "responses": [responses[0], responses[-1]],
            }
        )
    return pairs
