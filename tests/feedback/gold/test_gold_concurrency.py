"""Gold mixed in under real concurrency: threads, each with its own Postgres connection,
working through one project with gold at once; the lease rule still holds for ordinary
items and no one is served a gold item twice."""

import functools
import threading
import time
from collections import Counter

import pytest
from django.db import connection

from feedback.models import Assignment, Item, Judgement
from feedback.services.assignments import assignment_next, assignment_skip
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make
from tests.feedback.gold.test_gold_serving import gold_make
from tests.feedback.test_assignment_concurrency import _in_thread

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs Postgres row locks"),
    pytest.mark.timeout(120),
]

OVERLAP = 2
ANNOTATORS = 8
ITEMS = 40
GOLD = 6

OVERFULL_SQL = """
SELECT max((SELECT count(*) FROM feedback_judgement j
             WHERE j.item_id = i.id AND j.is_current AND j.source = 'human')
         + (SELECT count(*) FROM feedback_assignment a
             WHERE a.item_id = i.id AND a.status = 'active' AND a.expires_at > now()))
FROM feedback_item i WHERE i.project_id = %s AND NOT i.is_gold
"""


def test_annotators_at_once_keep_the_overlap_and_never_get_a_gold_item_twice() -> None:
    project = project_make(overlap=OVERLAP, gold_rate=0.3)
    items_make(project=project, count=ITEMS, responses=2)
    gold = {item.pk for item in gold_make(project, GOLD)}
    users = [user_make(f"ann{n}", project=project) for n in range(ANNOTATORS)]
    ids = {item.pk: response_ids(item) for item in Item.objects.filter(project=project)}
    worst_seen: list[int] = []
    errors: list[BaseException] = []
    done = threading.Event()
    start_line = threading.Barrier(ANNOTATORS + 1)
    deadline = time.monotonic() + 60

    def annotate(index: int) -> None:
        user = users[index]
        start_line.wait()
        count = 0
        while time.monotonic() < deadline:
            lease = assignment_next(project=project, user=user)
            if lease is None:
                # Done when no item still short of judgements is one this annotator has not
                # judged (one leased by others now may still need them after those submit).
                open_to_me = Item.objects.filter(
                    project=project, is_gold=False, judgement_count__lt=OVERLAP
                ).exclude(judgements__annotator=user)
                if not open_to_me.exists():
                    return
                time.sleep(0.01)
                continue
            count += 1
            if lease.item_id in gold and count % 3 == 0:
                assignment_skip(project=project, user=user, item=lease.item, reason="later")
                continue
            first, second = ids[lease.item_id]
            judgement_submit(user=user, item=lease.item, ranking=[[first], [second]])

    def watch() -> None:
        start_line.wait()
        while not done.is_set():
            with connection.cursor() as cursor:
                cursor.execute(OVERFULL_SQL, [project.pk])
                worst_seen.append(cursor.fetchone()[0])

    threads = [_in_thread(functools.partial(annotate, n), errors) for n in range(ANNOTATORS)]
    watcher = _in_thread(watch, errors)
    for thread in [*threads, watcher]:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    watcher.join()
    assert not errors, errors

    assert worst_seen and max(worst_seen) <= OVERLAP
    judged = Counter(
        Judgement.objects.filter(
            item__project=project, is_current=True, item__is_gold=False
        ).values_list("item_id", flat=True)
    )
    assert len(judged) == ITEMS and set(judged.values()) == {OVERLAP}
    # One lease at most per annotator and gold item, whatever became of it.
    per_pair = Counter(
        Assignment.objects.filter(item_id__in=gold).values_list("annotator_id", "item_id")
    )
    assert per_pair and max(per_pair.values()) == 1
    assert Assignment.objects.filter(item_id__in=gold).count() > 0
