"""Rejections under real concurrency: a reviewer rejects judgements while annotators, each
on their own Postgres connection, keep taking and judging items. Every rejected place is
filled once, by someone who had not judged the item, and the counters stay true."""

import random
import threading
import time
from collections import Counter

import pytest
from django.db import connection, connections

from core.errors import Conflict
from feedback.models import Item, Judgement, Membership, ReviewAction
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from feedback.services.review import judgement_reject
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="needs Postgres row locks"),
    pytest.mark.timeout(120),
]

OVERLAP = 2
ITEMS = 20
ANNOTATORS = 6
REJECTIONS = 12

COUNTS_SQL = """
SELECT i.id, i.judgement_count,
       (SELECT count(*) FROM feedback_judgement j
         WHERE j.item_id = i.id AND j.round = i.round AND j.is_current AND j.source = 'human'),
       (SELECT count(*) FROM feedback_assignment a
         WHERE a.item_id = i.id AND a.status = 'active' AND a.expires_at > now())
FROM feedback_item i WHERE i.project_id = %s
"""


def test_rejections_while_annotators_work_refill_each_place_once() -> None:
    project = project_make(overlap=OVERLAP)
    items_make(project=project, count=ITEMS, responses=2)
    users = [user_make(f"ann{n}", project=project) for n in range(ANNOTATORS)]
    reviewer = user_make("boss", project=project, role=Membership.Role.ADMIN)
    errors: list[BaseException] = []
    reviewing = threading.Event()
    reviewing.set()
    worst: list[int] = []
    start_line = threading.Barrier(ANNOTATORS + 2)
    deadline = time.monotonic() + 60

    def annotate(n: int) -> None:
        try:
            start_line.wait()
            while time.monotonic() < deadline:
                lease = assignment_next(project=project, user=users[n])
                if lease is None:
                    if not reviewing.is_set():
                        return
                    time.sleep(0.01)
                    continue
                ids = response_ids(lease.item)
                judgement_submit(user=users[n], item=lease.item, ranking=[[i] for i in ids])
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connections.close_all()

    def review() -> None:
        rng = random.Random(3)
        try:
            start_line.wait()
            rejected = 0
            while rejected < REJECTIONS and time.monotonic() < deadline:
                current = list(
                    Judgement.objects.filter(item__project=project, is_current=True).values_list(
                        "pk", flat=True
                    )
                )
                if not current:
                    time.sleep(0.01)
                    continue
                try:
                    judgement_reject(
                        project=project, reviewer=reviewer, judgement_id=rng.choice(current)
                    )
                    rejected += 1
                except Conflict:
                    pass  # rejected a moment ago by this loop's stale list: fine
                with connection.cursor() as cursor:
                    cursor.execute(COUNTS_SQL, [project.pk])
                    worst.append(max(row[2] + row[3] for row in cursor.fetchall()))
        except BaseException as exc:
            errors.append(exc)
        finally:
            reviewing.clear()
            connections.close_all()

    threads = [threading.Thread(target=annotate, args=(n,)) for n in range(ANNOTATORS)]
    threads.append(threading.Thread(target=review))
    for thread in threads:
        thread.start()
    start_line.wait()
    for thread in threads:
        thread.join()

    assert errors == []
    assert ReviewAction.objects.filter(action="reject").count() == REJECTIONS
    assert max(worst) <= OVERLAP
    with connection.cursor() as cursor:
        cursor.execute(COUNTS_SQL, [project.pk])
        rows = cursor.fetchall()
    # Every counter is the number of current judgements, and every item got its overlap
    # back after its rejections.
    assert all(count == current for _, count, current, _ in rows), rows
    assert all(current == OVERLAP for _, _, current, _ in rows), rows
    # Nobody judged an item twice (a rejected annotator is not handed the item again).
    pairs = Counter(Judgement.objects.values_list("item_id", "annotator_id"))
    assert max(pairs.values()) == 1
    assert Judgement.objects.count() == ITEMS * OVERLAP + REJECTIONS
    assert Item.objects.filter(project=project, judgement_count__lt=OVERLAP).count() == 0
