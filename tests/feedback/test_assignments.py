"""The assignment service, one annotator at a time (concurrency: test_assignment_concurrency)."""

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection, transaction
from django.utils import timezone

from core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from feedback.models import Assignment, Item, Judgement, Membership, Project, Response
from feedback.services.assignments import (
    annotator_lock,
    assignment_next,
    assignment_skip,
    assignments_expire,
)
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = pytest.mark.django_db


def _rank(user: User, item: Item, **kwargs: Any) -> Judgement:
    ranking = [[pk] for pk in response_ids(item)]
    return judgement_submit(user=user, item=item, ranking=ranking, **kwargs)


def test_first_annotator_gets_the_oldest_item_and_a_lease_of_the_project_length() -> None:
    project = project_make(overlap=1, lease_minutes=20)
    items = items_make(project=project, count=3)
    ann = user_make("ann", project=project)
    now = timezone.now()
    lease = assignment_next(project=project, user=ann, now=now)
    assert lease is not None
    assert lease.item_id == items[0].pk
    assert lease.status == Assignment.Status.ACTIVE
    assert lease.expires_at == now + timedelta(minutes=20)


def test_asking_again_while_holding_a_lease_returns_the_same_one() -> None:
    project = project_make(overlap=1)
    items_make(project=project, count=3)
    ann = user_make("ann", project=project)
    first = assignment_next(project=project, user=ann)
    second = assignment_next(project=project, user=ann)
    assert first is not None and second is not None
    assert second.pk == first.pk
    assert Assignment.objects.count() == 1


def test_others_share_an_item_up_to_its_overlap_then_move_on() -> None:
    project = project_make(overlap=2)
    items = items_make(project=project, count=2)
    users = [user_make(f"u{n}", project=project) for n in range(3)]
    got = [assignment_next(project=project, user=u) for u in users]
    assert [a.item_id for a in got if a] == [items[0].pk, items[0].pk, items[1].pk]


def test_item_closest_to_completion_comes_before_older_ones() -> None:
    project = project_make(overlap=3)
    _old, newer = items_make(project=project, count=2)
    helper = user_make("helper", project=project)
    _rank(helper, newer)
    ann = user_make("ann", project=project)
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id == newer.pk


def test_judged_and_skipped_items_are_not_offered_to_the_same_annotator_again() -> None:
    project = project_make(overlap=3)
    first, second, third = items_make(project=project, count=3)
    ann = user_make("ann", project=project)
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id == first.pk
    _rank(ann, first)
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id == second.pk
    skipped = assignment_skip(project=project, user=ann, item=second, reason="not my language")
    assert skipped.pk == lease.pk and skipped.status == Assignment.Status.SKIPPED
    assert skipped.skip_reason == "not my language"
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id == third.pk
    _rank(ann, third)
    assert assignment_next(project=project, user=ann) is None


def test_nothing_is_offered_once_every_item_is_complete() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    _rank(ann, item)
    assert Item.objects.get(pk=item.pk).judgement_count == 1
    assert assignment_next(project=project, user=bob) is None


def test_expired_lease_goes_back_to_the_pool_and_is_reissued() -> None:
    project = project_make(overlap=1, lease_minutes=30)
    (item,) = items_make(project=project, count=1)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    start = timezone.now()
    held = assignment_next(project=project, user=ann, now=start)
    assert held is not None
    assert assignment_next(project=project, user=bob, now=start + timedelta(minutes=29)) is None
    later = start + timedelta(minutes=31)
    reissued = assignment_next(project=project, user=bob, now=later)
    assert reissued is not None and reissued.item_id == item.pk
    assert reissued.expires_at == later + timedelta(minutes=30)
    # Ann's own next request retires her dead lease; the item is Bob's now.
    assert assignment_next(project=project, user=ann, now=later) is None
    assert Assignment.objects.get(pk=held.pk).status == Assignment.Status.EXPIRED


def test_an_annotator_can_be_offered_again_the_item_whose_lease_they_let_expire() -> None:
    project = project_make(overlap=1, lease_minutes=5)
    (item,) = items_make(project=project, count=1)
    ann = user_make("ann", project=project)
    start = timezone.now()
    first = assignment_next(project=project, user=ann, now=start)
    again = assignment_next(project=project, user=ann, now=start + timedelta(minutes=6))
    assert first is not None and again is not None
    assert again.pk != first.pk and again.item_id == item.pk


def test_submit_after_expiry_counts_when_the_item_still_needs_it() -> None:
    project = project_make(overlap=2, lease_minutes=10)
    (item,) = items_make(project=project, count=1)
    ann = user_make("ann", project=project)
    start = timezone.now()
    lease = assignment_next(project=project, user=ann, now=start)
    assert lease is not None
    judgement = _rank(ann, item, now=start + timedelta(minutes=15))
    assert judgement.is_current and judgement.version == 1
    assert Item.objects.get(pk=item.pk).judgement_count == 1
    assert Assignment.objects.get(pk=lease.pk).status == Assignment.Status.SUBMITTED


def test_submit_after_expiry_is_refused_when_others_completed_the_item() -> None:
    project = project_make(overlap=1, lease_minutes=10)
    (item,) = items_make(project=project, count=1)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    start = timezone.now()
    assert assignment_next(project=project, user=ann, now=start) is not None
    late = start + timedelta(minutes=11)
    assert assignment_next(project=project, user=bob, now=late) is not None
    with pytest.raises(Conflict) as caught:
        _rank(ann, item, now=late + timedelta(minutes=1))
    assert caught.value.status == 409 and caught.value.code == "not_needed"
    # Bob's live lease is what the item is waiting for; his judgement goes in.
    _rank(bob, item, now=late + timedelta(minutes=2))
    assert Judgement.objects.filter(item=item).count() == 1


def test_editing_a_judgement_adds_a_version_and_keeps_the_history() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=3)
    ann = user_make("ann", project=project)
    a, b, c = response_ids(item)
    first = judgement_submit(user=ann, item=item, ranking=[[a], [b], [c]])
    second = judgement_submit(user=ann, item=item, ranking=[[c], [a, b]], rationale="c is right")
    assert second.version == 2 and second.previous_id == first.pk and second.is_current
    assert not Judgement.objects.get(pk=first.pk).is_current
    assert Judgement.objects.get(pk=first.pk).ranking == [[a], [b], [c]]
    assert Item.objects.get(pk=item.pk).judgement_count == 1


def test_random_order_hands_out_every_item_once() -> None:
    project = project_make(overlap=1, order=Project.Order.RANDOM)
    items = items_make(project=project, count=12)
    ann = user_make("ann", project=project)
    seen = []
    while (lease := assignment_next(project=project, user=ann)) is not None:
        seen.append(lease.item_id)
        assignment_skip(project=project, user=ann, item=lease.item)
    assert sorted(seen) == sorted(i.pk for i in items)


def test_someone_outside_the_project_is_not_handed_items() -> None:
    project = project_make(overlap=1)
    items_make(project=project, count=1)
    outsider = user_make("out")
    exporter = user_make("exp", project=project, role=Membership.Role.EXPORTER)
    for user in (outsider, exporter):
        with pytest.raises(PermissionDenied):
            assignment_next(project=project, user=user)


def test_skipping_an_item_of_another_project_is_not_found() -> None:
    project, other = project_make(slug="a"), project_make(slug="b")
    (foreign,) = items_make(project=other, count=1)
    ann = user_make("ann", project=project)
    with pytest.raises(NotFound):
        assignment_skip(project=project, user=ann, item=foreign)


def test_skipping_a_judged_item_is_a_conflict() -> None:
    project = project_make(overlap=2)
    (item,) = items_make(project=project, count=1)
    ann = user_make("ann", project=project)
    _rank(ann, item)
    with pytest.raises(Conflict):
        assignment_skip(project=project, user=ann, item=item)


def test_next_item_query_count_does_not_grow_with_the_project(
    django_assert_max_num_queries: Any,
) -> None:
    project = project_make(overlap=3)
    items_make(project=project, count=200)
    ann = user_make("ann", project=project)
    with django_assert_max_num_queries(8):
        lease = assignment_next(project=project, user=ann)
    assert lease is not None
    with django_assert_max_num_queries(12):
        _rank(ann, lease.item)


@pytest.mark.parametrize(
    ("project_settings", "kwargs", "field"),
    [
        ({}, {"ranking": None}, "ranking"),
        ({}, {"both_bad": True}, "both_bad"),
        ({}, {"not_rankable": True, "ranking": None}, "flag_reason"),
        ({"rationale": Project.Rationale.REQUIRED}, {}, "rationale"),
        ({"rationale": Project.Rationale.OFF}, {"rationale": "why"}, "rationale"),
        ({"ask_ratings": True, "rating_scale": 5}, {"ratings": {"x": 1}}, "ratings"),
        ({"ask_ratings": True, "rating_scale": 5}, {"ratings": {}}, "ratings"),
        ({}, {"ratings": {1: 3}}, "ratings"),
        ({}, {"time_spent_ms": -5}, "time_spent_ms"),
        ({}, {"shown_order": [999999]}, "shown_order"),
    ],
)
def test_bad_submission_is_refused_naming_the_field(
    project_settings: dict[str, Any], kwargs: dict[str, Any], field: str
) -> None:
    project = project_make(overlap=1, **project_settings)
    (item,) = items_make(project=project, count=1, responses=2)
    ann = user_make("ann", project=project)
    ids = response_ids(item)
    payload = {"ranking": [[ids[0]], [ids[1]]], **kwargs}
    with pytest.raises(ValidationError) as caught:
        judgement_submit(user=ann, item=item, **payload)
    assert field in caught.value.details
    assert not Judgement.objects.exists()


def test_pairwise_verdicts_and_ratings_are_stored_as_given() -> None:
    project = project_make(overlap=2, mode=Project.Mode.PAIRWISE, ask_ratings=True, rating_scale=7)
    (item,) = items_make(project=project, count=1, responses=3)
    ann, bob = user_make("ann", project=project), user_make("bob", project=project)
    a, b, _c = response_ids(item)
    tie = judgement_submit(
        user=ann,
        item=item,
        ranking=[[a, b]],
        both_bad=True,
        ratings={a: 1, b: 2},
        shown_order=[b, a],
    )
    assert tie.ranking == [[a, b]] and tie.both_bad
    assert tie.ratings == {str(a): 1, str(b): 2} and tie.shown_order == [b, a]
    flagged = judgement_submit(
        user=bob, item=item, ranking=None, not_rankable=True, flag_reason="prompt is empty"
    )
    assert flagged.not_rankable and flagged.ranking == [] and flagged.flag_reason


def test_an_item_without_two_responses_is_not_handed_out() -> None:
    # A prompt still waiting for generated candidates has nothing to rank.
    project = project_make(overlap=1)
    waiting, one, ready = items_make(project=project, count=3, responses=2)
    Response.objects.filter(item=waiting).delete()
    Response.objects.filter(item=one, position=1).delete()
    ann = user_make("ann", project=project)
    lease = assignment_next(project=project, user=ann)
    assert lease is not None and lease.item_id == ready.pk
    assert assignment_next(project=project, user=ann) == lease


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        row = cursor.fetchone()
    assert row is not None
    return str(row[0])


@pytest.mark.django_db(transaction=True)
def test_only_a_lease_only_transaction_gives_up_waiting_for_the_disk() -> None:
    project = project_make(overlap=1)
    items_make(project=project, count=1)
    ann = user_make("ann", project=project)
    with transaction.atomic():
        annotator_lock(project=project, user=ann, durable=False)
        assert _synchronous_commit() == "off"
    with transaction.atomic():
        annotator_lock(project=project, user=ann)
        assert _synchronous_commit() == "on"
    # Inside a caller's transaction (a test's, here) the commit stays the caller's: durable.
    with transaction.atomic():
        assert assignment_next(project=project, user=ann) is not None
        assert _synchronous_commit() == "on"


def test_the_sweep_marks_run_out_leases_expired_and_leaves_live_ones() -> None:
    project = project_make(overlap=1, lease_minutes=10)
    items_make(project=project, count=2)
    early, late = user_make("early", project=project), user_make("late", project=project)
    start = timezone.now()
    old = assignment_next(project=project, user=early, now=start - timedelta(minutes=30))
    live = assignment_next(project=project, user=late, now=start)
    assert old is not None and live is not None
    assert assignments_expire(now=start) == 1
    statuses = dict(Assignment.objects.values_list("pk", "status"))
    assert statuses == {old.pk: "expired", live.pk: "active"}
    assert assignments_expire(now=start) == 0
