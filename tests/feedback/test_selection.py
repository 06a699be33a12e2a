"""Selection policies: each serves the next item in the order it promises (Postgres)."""

import pytest

from feedback.models import Item, Project
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def test_fifo_serves_the_item_closest_to_completion_then_the_oldest() -> None:
    project = project_make(overlap=3)
    old, _newer, judged = items_make(project=project, count=3, responses=2)
    a, b = response_ids(judged)
    judgement_submit(user=user_make("x", project=project), item=judged, ranking=[[a], [b]])
    ann = user_make("ann", project=project)
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id == judged.pk
    other = assignment_next(project=project, user=user_make("bob", project=project))
    assert other is not None and other.item_id == judged.pk
    third = assignment_next(project=project, user=user_make("cy", project=project))
    assert third is not None and third.item_id == old.pk


def test_disagreement_serves_the_item_whose_judgements_disagree_most_first() -> None:
    project = project_make(overlap=3, order=Project.Order.DISAGREEMENT)
    agreed, disputed, fresh = items_make(project=project, count=3, responses=3)
    u1, u2 = user_make("u1", project=project), user_make("u2", project=project)
    for item, reverse in ((agreed, False), (disputed, True)):
        ids = response_ids(item)
        judgement_submit(user=u1, item=item, ranking=[[pk] for pk in ids])
        second = list(reversed(ids)) if reverse else ids
        judgement_submit(user=u2, item=item, ranking=[[pk] for pk in second])
    scores = dict(Item.objects.values_list("pk", "disagreement"))
    assert scores[disputed.pk] > scores[agreed.pk] == 0.0 and scores[fresh.pk] == 0.0
    served = []
    for name in ("a", "b", "c"):
        lease = assignment_next(project=project, user=user_make(name, project=project))
        assert lease is not None
        served.append(lease.item_id)
    # fifo would serve the older `agreed` first; disagreement puts `disputed` ahead.
    assert served == [disputed.pk, agreed.pk, fresh.pk]


def test_uncertainty_serves_the_smallest_reward_margin_first_and_unscored_last() -> None:
    project = project_make(overlap=1, order=Project.Order.UNCERTAINTY)
    sure, unscored, unsure = items_make(project=project, count=3, responses=2)
    Item.objects.filter(pk=sure.pk).update(rm_margin=2.5)
    Item.objects.filter(pk=unsure.pk).update(rm_margin=0.01)
    served = []
    for name in ("a", "b", "c"):
        lease = assignment_next(project=project, user=user_make(name, project=project))
        assert lease is not None
        served.append(lease.item_id)
    assert served == [unsure.pk, sure.pk, unscored.pk]


def test_random_serves_items_in_no_fixed_order() -> None:
    project = project_make(overlap=1, order=Project.Order.RANDOM)
    items_make(project=project, count=40, responses=2)
    first = []
    for n in range(12):
        lease = assignment_next(project=project, user=user_make(f"u{n}", project=project))
        assert lease is not None
        first.append(lease.item_id)
    assert len(set(first)) == 12 and first != sorted(first)
