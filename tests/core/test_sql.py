"""core.sql: hand-written statements give the same model instances as the ORM."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from core import sql
from feedback.models import Item
from tests.factories import items_make, project_make


@pytest.mark.django_db
def test_fetch_builds_the_same_instances_as_the_orm() -> None:
    project = project_make()
    items = items_make(project=project, count=3)
    Item.objects.filter(pk=items[1].pk).update(metadata={"source": "x", "n": [1, 2]})
    statement = f"SELECT {sql.columns(Item, 'i')} FROM {sql.table(Item)} i ORDER BY i.id"
    fetched = sql.fetch(Item, statement, [])
    expected = list(Item.objects.order_by("id"))
    assert [f.pk for f in fetched] == [e.pk for e in expected]
    for got, want in zip(fetched, expected, strict=True):
        for field in Item._meta.concrete_fields:
            assert getattr(got, field.attname) == getattr(want, field.attname), field.name
        assert not got._state.adding and got._state.db == connection.alias
    assert fetched[1].metadata == {"source": "x", "n": [1, 2]}
    assert sql.fetch(Item, statement + " LIMIT 0", []) == []


_SQLITE_ROUND = """
from django.contrib.auth.models import User
from feedback.models import Assignment, Item, Judgement, Membership, Project, Response
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.judgements import judgement_submit

project = Project.objects.create(slug="lite", name="Lite", overlap=2)
for n in range(3):
    item = Item.objects.create(project=project, external_id=f"i{n}",
                               messages=[{"role": "user", "content": f"Q{n}?"}],
                               metadata={"n": [n]})
    for r in range(2):
        Response.objects.create(item=item, position=r, content=f"A{r}")
users = [User.objects.create_user(f"u{k}") for k in range(3)]
for user in users:
    Membership.objects.create(project=project, user=user, role="annotator")
seen = []
for user in users[:2]:
    for _ in range(3):
        lease = assignment_next(project=project, user=user)
        assert lease is not None
        assert assignment_next(project=project, user=user).pk == lease.pk  # held, not new
        item = lease.item
        assert item.metadata["n"] == [int(item.external_id[1:])]  # JSON read back
        ids = sorted(item.responses.values_list("id", flat=True))
        judgement_submit(user=user, item=item, ranking=[[ids[0]], [ids[1]]])
        seen.append(item.pk)
    assert assignment_next(project=project, user=user) is None  # each item once per person
first = Item.objects.get(external_id="i0")
ids = sorted(first.responses.values_list("id", flat=True))
changed = judgement_submit(user=users[0], item=first, ranking=[[ids[1]], [ids[0]]])
assert changed.version == 2 and changed.previous_id is not None
assert sorted(Item.objects.values_list("judgement_count", flat=True)) == [2, 2, 2]
assert assignment_next(project=project, user=users[2]) is None  # overlap 2 reached
assert Assignment.objects.filter(status="active").count() == 0
assert Judgement.objects.filter(is_current=True).count() == 6

# Every page of the project bar, and the training pages, render on SQLite too (a page
# that reaches for Postgres-only SQL would answer 500 in the demo).
from django.test import Client
from feedback.navigation import navigation_build
boss = User.objects.create_user("boss", is_staff=True)
Membership.objects.create(project=project, user=boss, role="admin")
client = Client()
client.force_login(boss)
dashboard = f"/p/{project.slug}/dashboard/"
assert client.get(dashboard).status_code == 200
request = client.get(dashboard).wsgi_request
nav = navigation_build(request)
links = [link.url for link in [*nav.project_links, *nav.main, *nav.training]]
assert len(nav.project_links) >= 8, links
for url in links:
    answer = client.get(url)
    assert answer.status_code == 200, (url, answer.status_code)
print("sqlite-ok", len(seen), len(links))
"""


def test_the_hand_written_statements_run_on_sqlite_as_the_demo_does(tmp_path: Path) -> None:
    """The demo runs on SQLite: lease, submit and change through the raw-SQL branches,
    and every page of the project bar."""
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path / 'lite.sqlite3'}",
        "CACHE_URL": "locmemcache://",
        "CELERY_BROKER_URL": "memory://",
    }
    manage = [sys.executable, str(settings.BASE_DIR / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True, timeout=300)
    done = subprocess.run(
        [*manage, "shell", "-c", _SQLITE_ROUND],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    assert "sqlite-ok 6" in done.stdout
