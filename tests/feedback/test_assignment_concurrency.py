"""The assignment service under real concurrency: threads, each with its own Postgres
connection, all asking for and judging items of one project at the same moment."""

import functools
import random
import threading
import time
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection, connections
from django.utils import timezone

from feedback.models import Assignment, Item, Judgement, Project
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs Postgres row locks"),
    pytest.mark.timeout(120),
]

OVERLAP = 3
ANNOTATORS = 16
ITEMS = 80

OVERFULL_SQL = """
SELECT i.id,
       (SELECT count(*) FROM feedback_judgement j
         WHERE j.item_id = i.id AND j.is_current AND j.source = 'human')
     + (SELECT count(*) FROM feedback_assignment a
         WHERE a.item_id = i.id AND a.status = 'active' AND a.expires_at > now())
FROM feedback_item i WHERE i.project_id = %s
"""


def _in_thread(work: Callable[[], None], errors: list[BaseException]) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    return threading.Thread(target=run)


@pytest.mark.parametrize("order", [o.value for o in Project.Order])
def test_sixteen_annotators_never_over_assign_double_judge_or_lose_a_lease(order: str) -> None:
    # Every selection policy: the same leases under a different order.
    project = project_make(overlap=OVERLAP, order=order)
    items_make(project=project, count=ITEMS, responses=2)
    if order == Project.Order.UNCERTAINTY:
        # Margins as the scoring job leaves them: some items scored, some not.
        rng = random.Random(7)
        for item in Item.objects.filter(project=project)[: ITEMS // 2]:
            Item.objects.filter(pk=item.pk).update(rm_margin=rng.random())
    users = [user_make(f"ann{n}", project=project) for n in range(ANNOTATORS)]
    ids = {item.pk: response_ids(item) for item in Item.objects.filter(project=project)}
    leases: dict[int, list[int]] = {u.pk: [] for u in users}
    submitted: dict[int, list[int]] = {u.pk: [] for u in users}
    skipped: dict[int, list[int]] = {u.pk: [] for u in users}
    worst_seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()
    start_line = threading.Barrier(ANNOTATORS + 1)
    deadline = time.monotonic() + 60

    def annotate(user_index: int) -> None:
        user = users[user_index]
        rng = random.Random(user_index)
        start_line.wait()
        while time.monotonic() < deadline:
            lease = assignment_next(project=project, user=user)
            if lease is None:
                # Nothing for me now; an item may come back if someone skips it.
                if not Assignment.objects.filter(status=Assignment.Status.ACTIVE).exists():
                    return
                time.sleep(0.01)
                continue
            again = assignment_next(project=project, user=user)
            assert again is not None and again.pk == lease.pk, "a second ask changed the lease"
            leases[user.pk].append(lease.pk)
            if rng.random() < 0.1:
                assignment_skip(project=project, user=user, item=lease.item, reason="busy")
                skipped[user.pk].append(lease.item_id)
            else:
                first, second = ids[lease.item_id]
                judgement_submit(
                    user=user,
                    item=lease.item,
                    ranking=[[first], [second]] if rng.random() < 0.5 else [[second], [first]],
                )
                submitted[user.pk].append(lease.item_id)

    def watch() -> None:
        start_line.wait()
        while not done.is_set():
            with connection.cursor() as cursor:
                cursor.execute(OVERFULL_SQL, [project.pk])
                worst_seen.append(max(total for _, total in cursor.fetchall()))

    threads = [_in_thread(functools.partial(annotate, n), errors) for n in range(ANNOTATORS)]
    watcher = _in_thread(watch, errors)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert not errors, errors

    # Never more than the overlap in judgements plus live leases, at any sampled moment.
    assert worst_seen and max(worst_seen) <= OVERLAP
    # Every item got exactly its overlap: nothing over-assigned, nothing stranded.
    per_item = Counter(
        Judgement.objects.filter(item__project=project, is_current=True).values_list(
            "item_id", flat=True
        )
    )
    assert set(per_item.values()) == {OVERLAP} and len(per_item) == ITEMS
    # Nobody judged an item twice (every judgement is a first version) or judged a skip.
    pairs = list(Judgement.objects.values_list("annotator_id", "item_id", "version"))
    assert len(pairs) == len({(a, i) for a, i, _ in pairs}) == OVERLAP * ITEMS
    assert {v for _, _, v in pairs} == {1}
    for user in users:
        assert not set(submitted[user.pk]) & set(skipped[user.pk])
    # No lease lost: each handed-out lease ended as the judgement or skip its holder made.
    statuses = dict(Assignment.objects.values_list("pk", "status"))
    handed = [pk for user_leases in leases.values() for pk in user_leases]
    assert len(handed) == len(set(handed)) == len(statuses)
    assert Counter(statuses.values()) == {
        Assignment.Status.SUBMITTED: sum(map(len, submitted.values())),
        Assignment.Status.SKIPPED: sum(map(len, skipped.values())),
    }
    judged = set(Judgement.objects.values_list("annotator_id", "item_id"))
    assert judged == {(u, i) for u, items in submitted.items() for i in items}
    # The denormalised counter agrees with the judgements.
    assert dict(Item.objects.values_list("pk", "judgement_count")) == {
        pk: per_item[pk] for pk in ids
    }


def test_one_annotator_asking_from_many_tabs_at_once_gets_one_lease() -> None:
    project = project_make(overlap=1)
    items_make(project=project, count=20, responses=2)
    user = user_make("ann", project=project)
    got: list[int] = []
    errors: list[BaseException] = []
    start_line = threading.Barrier(8)

    def ask() -> None:
        start_line.wait()
        lease = assignment_next(project=project, user=user)
        assert lease is not None
        got.append(lease.pk)

    threads = [_in_thread(ask, errors) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert len(got) == 8 and len(set(got)) == 1
    assert Assignment.objects.count() == 1


def test_late_submits_racing_for_the_last_place_let_exactly_one_in() -> None:
    """Leases expired for everybody; all submit at once for an item that needs one more."""
    project = project_make(overlap=2, lease_minutes=1)
    (item,) = items_make(project=project, count=1, responses=2)
    first = user_make("first", project=project)
    late = [user_make(f"late{n}", project=project) for n in range(8)]
    start = timezone.now()
    ranking = [[pk] for pk in response_ids(item)]
    judgement_submit(user=first, item=item, ranking=ranking, now=start)
    outcomes: list[str] = []
    errors: list[BaseException] = []
    start_line = threading.Barrier(len(late))

    def submit(user_index: int) -> None:
        start_line.wait()
        try:
            judgement_submit(user=late[user_index], item=item, ranking=ranking)
            outcomes.append("taken")
        except Exception as exc:
            outcomes.append(getattr(exc, "code", repr(exc)))

    threads = [_in_thread(functools.partial(submit, n), errors) for n in range(len(late))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    assert Counter(outcomes) == {"taken": 1, "not_needed": len(late) - 1}
    assert Item.objects.get(pk=item.pk).judgement_count == 2
