"""Gold items served blind: at the project's rate, once per annotator, outside the overlap,
and a project that stops annotators below its gold threshold stops them (real Postgres)."""

import random
from typing import Any

import pytest
from django.contrib.auth.models import User

from core.errors import PermissionDenied
from feedback.models import Assignment, Item, Judgement, Project
from feedback.selectors import project_dashboard
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.gold import GOLD_STOP_CODE, item_gold_set, project_gold_count_refresh
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def gold_make(project: Project, count: int, responses: int = 2) -> list[Item]:
    """``count`` gold items whose expected ranking is their responses in position order."""
    items = items_make(project=project, count=count, responses=responses, prompt="Check {n}?")
    for item in items:
        Item.objects.filter(pk=item.pk).update(
            is_gold=True, gold_ranking=[[pk] for pk in response_ids(item)]
        )
    project_gold_count_refresh(project=project)
    return items


def judge(user: User, item: Item, *, right: bool = True) -> Judgement:
    ids = response_ids(item)
    ranking = [[pk] for pk in (ids if right else reversed(ids))]
    return judgement_submit(user=user, item=item, ranking=ranking)


def work_through(project: Project, user: User, *, right: bool = True) -> list[Assignment]:
    """Every lease ``user`` is given until nothing is left, judging each."""
    served = []
    while (lease := assignment_next(project=project, user=user)) is not None:
        served.append(lease)
        judge(user, lease.item, right=right)
        assert len(served) < 5000, "the queue never ends"
    return served


def test_gold_is_mixed_into_a_queue_at_the_project_rate() -> None:
    random.seed(12)
    project = project_make(overlap=1, gold_rate=0.1)
    ordinary = items_make(project=project, count=300, responses=2)
    gold = {item.pk for item in gold_make(project, 100)}
    ann = user_make("ann", project=project)

    served = work_through(project, ann)

    gold_served = [lease for lease in served if lease.item_id in gold]
    share = len(gold_served) / len(served)
    # Each new lease is gold with probability 0.1: over ~333 leases the share's standard
    # deviation is ~0.017, so +-0.045 is under three of them.
    assert abs(share - 0.1) < 0.045, share
    assert len(served) - len(gold_served) == len(ordinary)  # every ordinary item once


def test_a_project_without_a_gold_rate_serves_no_gold() -> None:
    project = project_make(overlap=1, gold_rate=0.0)
    items_make(project=project, count=30, responses=2)
    gold = {item.pk for item in gold_make(project, 10)}
    served = work_through(project, user_make("ann", project=project))
    assert len(served) == 30 and not {lease.item_id for lease in served} & gold


def test_gold_is_never_served_twice_to_one_annotator_and_is_outside_the_overlap() -> None:
    project = project_make(overlap=2, gold_rate=1.0)
    ordinary = items_make(project=project, count=12, responses=2)
    gold = gold_make(project, 4)
    gold_ids = {item.pk for item in gold}
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)

    # Ann skips the first gold item she is given: she is never given it again either.
    first = assignment_next(project=project, user=ann)
    assert first is not None and first.item_id in gold_ids
    assignment_skip(project=project, user=ann, item=first.item, reason="unsure")
    served_ann = [first, *work_through(project, ann)]
    served_bob = work_through(project, bob)

    for served in (served_ann, served_bob):
        gold_served = [lease.item_id for lease in served if lease.item_id in gold_ids]
        assert sorted(gold_served) == sorted(gold_ids)  # each one, exactly once
    assert Judgement.objects.filter(item__in=gold, annotator=bob).count() == 4
    assert Judgement.objects.filter(item__in=gold, annotator=ann).count() == 3
    # Gold took no ordinary item's place: both judged each of the 12 ordinary items.
    ordinary_served = [
        lease.item_id for lease in served_ann + served_bob if lease.item_id not in gold_ids
    ]
    assert sorted(ordinary_served) == sorted(item.pk for item in ordinary for _ in range(2))
    # ...and counts towards no completion figure.
    board = project_dashboard(project=project)
    assert board.items_complete == 12 and board.items_waiting == 0


def test_gold_is_outside_the_overlap() -> None:
    project = project_make(overlap=1, gold_rate=1.0)
    items_make(project=project, count=3, responses=2)
    (gold,) = gold_make(project, 1)
    users = [user_make(f"u{n}", project=project) for n in range(3)]
    leases = [assignment_next(project=project, user=u) for u in users]
    assert [lease.item_id for lease in leases if lease] == [gold.pk] * 3
    for user in users:
        judge(user, gold)  # every one counted, far past the overlap of 1
    assert Judgement.objects.filter(item=gold, is_current=True).count() == 3


def test_gold_comes_only_mixed_into_real_work() -> None:
    project = project_make(overlap=1, gold_rate=1.0)
    (only,) = items_make(project=project, count=1, responses=2)
    gold_make(project, 3)
    other, ann = user_make("other", project=project), user_make("ann", project=project)
    assert assignment_next(project=project, user=other) is not None  # gold for "other"
    judge(other, only)
    # Nothing ordinary is left for Ann: she is not handed the gold items as a tail.
    assert assignment_next(project=project, user=ann) is None


def test_an_item_marked_gold_leaves_the_ordinary_queue() -> None:
    project = project_make(overlap=1, gold_rate=0.0)
    first, second = items_make(project=project, count=2, responses=2)
    item_gold_set(item=first, ranking=[[pk] for pk in response_ids(first)])
    lease = assignment_next(project=project, user=user_make("ann", project=project))
    assert lease is not None and lease.item_id == second.pk


def _stopping(**settings: Any) -> tuple[Project, User]:
    project = project_make(overlap=1, gold_rate=1.0, **settings)
    items_make(project=project, count=10, responses=2)
    gold_make(project, 5)
    ann = user_make("ann", project=project)
    for _ in range(3):  # three gold items answered the wrong way round
        lease = assignment_next(project=project, user=ann)
        assert lease is not None and lease.item.is_gold
        judge(ann, lease.item, right=False)
    return project, ann


def test_an_annotator_below_the_threshold_is_stopped_where_the_project_says_so() -> None:
    project, ann = _stopping(gold_threshold=0.8, gold_stop=True)
    with pytest.raises(PermissionDenied) as refused:
        assignment_next(project=project, user=ann)
    assert refused.value.code == GOLD_STOP_CODE
    assert "below the project's threshold of 0.80" in refused.value.message
    assert refused.value.details["threshold"] == 0.8
    # Someone careful is not stopped.
    careful = user_make("careful", project=project)
    assert assignment_next(project=project, user=careful) is not None


@pytest.mark.parametrize(
    "gold_settings", [{"gold_threshold": 0.8, "gold_stop": False}, {"gold_stop": True}]
)
def test_an_annotator_below_the_threshold_is_served_where_the_project_does_not_stop(
    gold_settings: dict[str, Any],
) -> None:
    project, ann = _stopping(**gold_settings)
    assert assignment_next(project=project, user=ann) is not None


def test_the_next_item_query_count_holds_with_gold_and_a_stopping_project(
    django_assert_max_num_queries: Any,
) -> None:
    project = project_make(overlap=3, gold_rate=1.0, gold_threshold=0.5, gold_stop=True)
    items_make(project=project, count=200)
    gold = {item.pk for item in gold_make(project, 20)}
    ann = user_make("ann", project=project)
    with django_assert_max_num_queries(9):
        lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id in gold
    with django_assert_max_num_queries(12):
        judge(ann, lease.item)
