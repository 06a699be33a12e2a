"""The review queue: what it lists and why, its page and its API, who may use them, and
that a page costs the same queries however long the queue is."""

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from feedback.models import Item, Judgement, Membership, Project, ReviewAction
from feedback.quality.agreement import project_agreement
from feedback.quality.item_alpha import item_alphas
from feedback.quality.review import review_queue
from feedback.services.assignments import assignment_skip
from feedback.services.gold import item_gold_set
from feedback.services.judgements import judgement_submit
from feedback.services.review import judgement_reject
from tests.factories import items_make, project_make, response_ids, user_make
from tests.feedback.api.conftest import client_for

pytestmark = pytest.mark.django_db


@dataclass
class Queue:
    project: Project
    items: list[Item]
    ann: list[User]
    admin: User
    disagreeing: Judgement  # c's reversed ranking of items[4]
    flagged: Judgement  # c's "cannot rank" of items[5]
    gold_miss: Judgement  # a's wrong ranking of the gold items[7]


def _rank(user: User, item: Item, order: list[int], **kwargs: Any) -> Judgement:
    ids = response_ids(item)
    return judgement_submit(user=user, item=item, ranking=[[ids[p]] for p in order], **kwargs)


def _queue(extra_low: int = 0, prefix: str = "") -> Queue:
    """Eight items judged by three annotators: 0-3 agreed on, 4 (and ``extra_low`` more,
    8 onwards) disagreed on by c, 5 flagged by c, 6 skipped by b, 7 a gold item a got wrong."""
    project = project_make(slug=f"{prefix}rev", overlap=3, ask_ratings=True, rating_scale=5)
    items = items_make(project=project, count=8 + extra_low, responses=3)
    a, b, c = (user_make(f"{prefix}ann-{n}", project=project) for n in "abc")
    admin = user_make(f"{prefix}boss", project=project, role=Membership.Role.ADMIN)

    def rank(user: User, item: Item, order: list[int], why: str = "") -> Judgement:
        ids = response_ids(item)
        ratings = {ids[p]: (5, 3, 1)[n] for n, p in enumerate(order)}
        return _rank(user, item, order, ratings=ratings, rationale=why)

    for item in items[:4]:
        for user in (a, b, c):
            rank(user, item, [0, 1, 2])
    for item in [items[4], *items[8:]]:
        rank(a, item, [0, 1, 2])
        rank(b, item, [0, 1, 2])
    disagreeing = rank(c, items[4], [2, 1, 0], why="C reads best to me")
    for item in items[8:]:
        rank(c, item, [2, 1, 0])
    flagged = judgement_submit(
        user=c, item=items[5], ranking=None, not_rankable=True, flag_reason="the prompt is empty"
    )
    assignment_skip(project=project, user=b, item=items[6], reason="not my language")
    item_gold_set(item=items[7], ranking=[[r] for r in response_ids(items[7])])
    gold_miss = rank(a, items[7], [2, 1, 0])
    return Queue(project, items, [a, b, c], admin, disagreeing, flagged, gold_miss)


def test_the_queue_lists_each_kind_of_reason_with_what_each_annotator_said() -> None:
    q = _queue()
    queue = review_queue(project=q.project)
    kinds = {entry.item.pk: entry.kinds for entry in queue.items}
    assert kinds == {
        q.items[4].pk: ["low_agreement"],
        q.items[5].pk: ["cannot_rank"],
        q.items[6].pk: ["skip"],
        q.items[7].pk: ["gold_miss"],
    }
    low = next(e for e in queue.items if e.item.pk == q.items[4].pk)
    assert low.alpha is not None and low.alpha < 0.667
    assert [r.label for r in low.responses] == ["A", "B", "C"]
    rows = {r.annotator: r for r in low.judgements}
    assert rows["ann-c"].cells == [(3, 1), (2, 3), (1, 5)]  # C first, rated 5
    assert rows["ann-c"].judgement.rationale == "C reads best to me"
    skip = next(e for e in queue.items if e.item.pk == q.items[6].pk)
    assert [(s.annotator, s.reason) for s in skip.skips] == [("ann-b", "not my language")]
    assert queue.counts == {
        "low_agreement": 1,
        "cannot_rank": 1,
        "skip": 1,
        "gold_miss": 1,
        "rejected": 0,
    }
    # Filters: by kind and by annotator (only the reasons that concern them).
    only = review_queue(project=q.project, kind="gold_miss")
    assert [e.item.pk for e in only.items] == [q.items[7].pk]
    by_b = review_queue(project=q.project, annotator="ann-b")
    assert [e.item.pk for e in by_b.items] == [q.items[4].pk, q.items[6].pk]


def test_an_accepted_judgement_leaves_the_open_queue_but_not_the_full_one() -> None:
    q = _queue()
    client = Client()
    client.force_login(q.admin)
    url = reverse("review-judgement", args=[q.project.slug, q.flagged.pk])
    made = client.post(url, {"action": "accept", "note": "fair", "back": "?kind=cannot_rank"})
    assert made.status_code == 302
    assert made["Location"] == reverse("review", args=[q.project.slug]) + "?kind=cannot_rank"
    assert ReviewAction.objects.get(judgement=q.flagged).reviewer == q.admin
    assert review_queue(project=q.project, kind="cannot_rank").total == 0
    full = review_queue(project=q.project, kind="cannot_rank", state="all")
    assert [r.status for r in full.items[0].judgements if r.annotator == "ann-c"] == ["accepted"]


def test_the_page_shows_the_items_and_rejecting_from_it_re_queues_the_item() -> None:
    q = _queue()
    client = Client()
    client.force_login(q.admin)
    page = client.get(reverse("review", args=[q.project.slug]))
    assert page.status_code == 200
    html = page.content.decode()
    assert "C reads best to me" in html and "the prompt is empty" in html
    assert "not my language" in html and "Gold miss" in html
    assert f'id="judgement-{q.disagreeing.pk}"' in html
    assert 'name="csrfmiddlewaretoken"' in html
    before = Item.objects.get(pk=q.items[4].pk).judgement_count
    client.post(
        reverse("review-judgement", args=[q.project.slug, q.disagreeing.pk]),
        {"action": "reject", "note": "reversed"},
    )
    assert Item.objects.get(pk=q.items[4].pk).judgement_count == before - 1
    q.disagreeing.refresh_from_db()
    assert not q.disagreeing.is_current
    again = client.get(reverse("review", args=[q.project.slug]) + "?state=all").content.decode()
    assert "review-rejected" in again and "rejected by boss" in again


def test_the_page_is_for_admins_only() -> None:
    q = _queue()
    url = reverse("review", args=[q.project.slug])
    post = reverse("review-judgement", args=[q.project.slug, q.flagged.pk])
    member, outsider = Client(), Client()
    member.force_login(q.ann[0])
    outsider.force_login(user_make("stranger"))
    assert member.get(url).status_code == 403
    assert member.post(post, {"action": "reject"}).status_code == 403
    assert outsider.get(url).status_code == 404
    assert outsider.post(post, {"action": "reject"}).status_code == 404
    assert Client().get(url).status_code == 302  # to the login page
    assert not ReviewAction.objects.exists()


def test_the_dashboard_and_the_project_bar_link_the_review_page() -> None:
    q = _queue()
    client = Client()
    client.force_login(q.admin)
    html = client.get(reverse("dashboard", args=[q.project.slug])).content.decode()
    assert html.count(f'href="{reverse("review", args=[q.project.slug])}"') >= 2


def test_a_page_of_the_queue_costs_the_same_queries_however_long_the_queue() -> None:
    counts = []
    for extra, prefix in ((0, "s-"), (12, "l-")):
        q = _queue(extra_low=extra, prefix=prefix)
        client = Client()
        client.force_login(q.admin)
        url = reverse("review", args=[q.project.slug])
        with CaptureQueriesContext(connection) as queries:
            page = client.get(url)
        assert page.status_code == 200
        assert review_queue(project=q.project).total == 4 + extra
        counts.append(len(queries))
    # Four times the items, the same statements: one query per item would add twelve. (A
    # shared cache that times out under load may cost the session one read: 1 of slack.)
    assert counts[1] <= counts[0] + 1, counts
    assert counts[0] <= 20


def test_the_api_rejects_and_accepts_with_one_error_shape() -> None:
    q = _queue()
    url = f"/api/projects/{q.project.slug}/judgements/{q.gold_miss.pk}/review/"
    admin = client_for(q.admin)
    bad = admin.post(url, {"action": "delete"}, format="json")
    assert bad.status_code == 400
    assert bad.json()["error"]["code"] == "invalid" and "action" in str(bad.json()["error"])
    made = admin.post(url, {"action": "reject", "note": "wrong on gold"}, format="json")
    assert made.status_code == 201
    body = made.json()
    assert body["action"] == "reject" and body["reviewer"] == "boss"
    assert body["judgement_current"] is False and body["created_at"]
    again = admin.post(url, {"action": "accept"}, format="json")
    assert again.status_code == 409 and again.json()["error"]["code"] == "already_rejected"
    history = admin.get(url).json()
    assert [(h["action"], h["note"]) for h in history] == [("reject", "wrong on gold")]
    member = client_for(q.ann[1]).post(url, {"action": "accept"}, format="json")
    assert member.status_code == 403 and member.json()["error"]["code"] == "permission_denied"
    outsider = client_for(user_make("stranger")).post(url, {"action": "accept"}, format="json")
    assert outsider.status_code == 404 and outsider.json()["error"]["code"] == "not_found"
    missing = admin.post(
        f"/api/projects/{q.project.slug}/judgements/999999/review/",
        {"action": "accept"},
        format="json",
    )
    assert missing.status_code == 404


def test_item_alphas_are_the_agreement_reports_and_follow_a_rejection() -> None:
    q = _queue(extra_low=3)
    report = project_agreement(project=q.project, samples=0)
    alphas = item_alphas(project=q.project)
    assert alphas.keys() == report.item_alpha.keys()
    assert all(alphas[k] == pytest.approx(v) for k, v in report.item_alpha.items())
    assert item_alphas(project=q.project) == alphas  # from the cache
    judgement_reject(project=q.project, reviewer=q.admin, judgement_id=q.disagreeing.pk)
    after = item_alphas(project=q.project)
    assert after[q.items[4].pk] == pytest.approx(
        project_agreement(project=q.project, samples=0).item_alpha[q.items[4].pk]
    )
    assert after[q.items[4].pk] > alphas[q.items[4].pk]


def test_the_queue_is_paginated_and_keeps_its_filters_across_pages(monkeypatch: Any) -> None:
    q = _queue(extra_low=3)
    first = review_queue(project=q.project, page_size=3)
    second = review_queue(project=q.project, page_size=3, page=2)
    assert first.total == second.total == 7 and first.pages == 3
    assert not {e.item.pk for e in first.items} & {e.item.pk for e in second.items}
    client = Client()
    client.force_login(q.admin)
    html = client.get(
        reverse("review", args=[q.project.slug]), {"kind": "low_agreement"}
    ).content.decode()
    assert "4 items to review" in html and 'rel="next"' not in html  # 4 fit on one page
    monkeypatch.setattr("feedback.quality.review.PAGE_SIZE", 3)
    url = reverse("review", args=[q.project.slug])
    html = client.get(url, {"kind": "low_agreement"}).content.decode()
    assert "page 1 of 2" in html and 'href="?kind=low_agreement&amp;page=2"' in html
    last = client.get(url, {"kind": "low_agreement", "page": "2"}).content.decode()
    assert last.count('class="card review-item"') == 1 and 'rel="prev"' in last
    assert client.get(reverse("review", args=[q.project.slug]), {"kind": "nope"}).status_code == 400
