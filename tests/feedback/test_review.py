"""Reviewing judgements (feedback.services.review) on real Postgres: a rejection
re-queues the item and takes the judgement out of the export and the agreement figures,
keeping it in the history with who and when."""

from pathlib import Path
from typing import Any

import orjson
import pytest
from django.contrib.auth.models import User
from django.utils import timezone

from core.errors import Conflict, NotFound, ValidationError
from feedback.export import export_params_parse, export_rows
from feedback.models import Assignment, Item, Judgement, Membership, Project, ReviewAction
from feedback.quality.agreement import project_agreement
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from feedback.services.review import judgement_accept, judgement_reject
from tests.factories import items_make, project_make, response_ids, user_make
from training.services import snapshot_create, snapshot_file

pytestmark = pytest.mark.django_db


def _judge(user: User, project: Project, ranking: list[int] | None = None) -> Judgement:
    """``user`` takes their next item and ranks it (``ranking``: response positions)."""
    lease = assignment_next(project=project, user=user)
    assert lease is not None
    ids = response_ids(lease.item)
    order = ranking if ranking is not None else list(range(len(ids)))
    return judgement_submit(user=user, item=lease.item, ranking=[[ids[p]] for p in order])


def _setup(overlap: int = 2) -> tuple[Project, Item, list[User], User]:
    project = project_make(overlap=overlap)
    (item,) = items_make(project=project, count=1, responses=3)
    users = [user_make(f"ann{n}", project=project) for n in range(4)]
    admin = user_make("boss", project=project, role=Membership.Role.ADMIN)
    return project, item, users, admin


def _export(project: Project) -> list[dict[str, Any]]:
    return list(export_rows(project=project, params=export_params_parse({"format": "rankings"})))


def test_rejecting_re_queues_the_item_for_one_new_judgement_and_nobody_twice() -> None:
    project, item, (a, b, c, d), admin = _setup(overlap=2)
    ja = _judge(a, project)
    _judge(b, project, [2, 1, 0])
    assert assignment_next(project=project, user=c) is None  # complete
    item.refresh_from_db()
    assert item.judgement_count == 2

    action = judgement_reject(project=project, reviewer=admin, judgement_id=ja.pk, note="random")

    item.refresh_from_db()
    assert item.judgement_count == 1
    # Neither the rejected annotator nor the other one is handed it again; one newcomer is.
    assert assignment_next(project=project, user=a) is None
    assert assignment_next(project=project, user=b) is None
    lease = assignment_next(project=project, user=c)
    assert lease is not None and lease.item_id == item.pk
    assert assignment_next(project=project, user=d) is None  # the one place is leased
    judgement_submit(user=c, item=lease.item, ranking=[[r] for r in response_ids(item)])
    item.refresh_from_db()
    assert item.judgement_count == 2
    assert Assignment.objects.filter(item=item, status=Assignment.Status.ACTIVE).count() == 0
    # The rejected judgement is kept, with who rejected it and when.
    ja.refresh_from_db()
    assert not ja.is_current
    assert action.reviewer == admin and action.action == ReviewAction.Action.REJECT
    assert action.note == "random"
    assert abs((timezone.now() - action.created_at).total_seconds()) < 60
    assert list(ReviewAction.objects.filter(judgement=ja).values_list("action", flat=True)) == [
        "reject"
    ]


def test_a_rejected_judgement_leaves_the_export_the_snapshot_and_the_agreement_figures(
    settings: Any, tmp_path: Path
) -> None:
    settings.SNAPSHOT_DIR = tmp_path
    project, _item, (a, b, c, _), admin = _setup(overlap=3)
    _judge(a, project, [0, 1, 2])
    _judge(b, project, [0, 1, 2])
    jc = _judge(c, project, [2, 1, 0])
    before = project_agreement(project=project, samples=0)
    assert before.alpha.value is not None and before.alpha.value < 1.0
    assert {r["annotator"]["username"] for r in _export(project)} == {"ann0", "ann1", "ann2"}

    judgement_reject(project=project, reviewer=admin, judgement_id=jc.pk)

    after = project_agreement(project=project, samples=0)
    assert after.alpha.value == pytest.approx(1.0)
    assert {a.username for a in after.annotators} == {"ann0", "ann1"}
    assert {r["annotator"]["username"] for r in _export(project)} == {"ann0", "ann1"}
    snapshot = snapshot_create(project=project, params={"format": "rankings"})
    lines = [orjson.loads(line) for line in snapshot_file(snapshot).read_bytes().splitlines()]
    assert {r["annotator"]["username"] for r in lines} == {"ann0", "ann1"}


def test_the_rejected_annotator_may_judge_again_as_a_new_version() -> None:
    project, item, (a, *_), admin = _setup(overlap=1)
    ja = _judge(a, project)
    judgement_reject(project=project, reviewer=admin, judgement_id=ja.pk)
    again = judgement_submit(user=a, item=item, ranking=[[r] for r in response_ids(item)[::-1]])
    assert again.version == 2 and again.previous_id == ja.pk and again.is_current
    item.refresh_from_db()
    assert item.judgement_count == 1


def test_accepting_is_recorded_and_a_rejected_judgement_stays_rejected() -> None:
    project, item, (a, _b, *_), admin = _setup(overlap=2)
    ja = _judge(a, project)
    accepted = judgement_accept(project=project, reviewer=admin, judgement_id=ja.pk)
    assert accepted.action == ReviewAction.Action.ACCEPT and accepted.reviewer == admin
    ja.refresh_from_db()
    assert ja.is_current
    with pytest.raises(Conflict) as again:
        judgement_accept(project=project, reviewer=admin, judgement_id=ja.pk)
    assert again.value.code == "already_accepted"
    # An admin may still change their mind and reject it; then it cannot be accepted.
    judgement_reject(project=project, reviewer=admin, judgement_id=ja.pk)
    with pytest.raises(Conflict) as rejected:
        judgement_accept(project=project, reviewer=admin, judgement_id=ja.pk)
    assert rejected.value.code == "already_rejected"
    with pytest.raises(Conflict):
        judgement_reject(project=project, reviewer=admin, judgement_id=ja.pk)
    assert [x.action for x in ReviewAction.objects.filter(judgement=ja)] == ["accept", "reject"]
    item.refresh_from_db()
    assert item.judgement_count == 0


def test_a_replaced_version_is_not_reviewed_and_other_projects_judgements_are_not_found() -> None:
    project, item, (a, *_), admin = _setup(overlap=1)
    first = _judge(a, project)
    judgement_submit(user=a, item=item, ranking=[[r] for r in response_ids(item)[::-1]])
    with pytest.raises(Conflict) as replaced:
        judgement_reject(project=project, reviewer=admin, judgement_id=first.pk)
    assert replaced.value.code == "superseded"
    other = project_make(slug="other")
    with pytest.raises(NotFound):
        judgement_reject(project=other, reviewer=admin, judgement_id=first.pk)
    with pytest.raises(ValidationError):
        judgement_accept(project=project, reviewer=admin, judgement_id=first.pk, note="x" * 3000)
