"""An annotator's day in a real browser: log in, rank by drag-and-drop and by keyboard,
tie, pairwise verdicts, skip; what the database holds afterwards matches."""

import os
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from feedback.models import Assignment, Judgement, Membership, Project
from feedback.services.judgements import judgement_submit
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]

PASSWORD = "correct horse battery staple"
XSS_PAYLOADS = [
    "<img src=x onerror=alert(1)>",
    "<script>alert('xss')</script>",
    "[click me](javascript:alert(1))",
    '<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"><script>alert(2)</script></svg>',
]
SCREENSHOTS = os.environ.get("FEEDBACK_SCREENSHOTS")


def _log_in(page: Any, base: str, username: str) -> None:
    page.goto(f"{base}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/")


def _shown(page: Any) -> tuple[int, list[int]]:
    item = page.locator("#item")
    order = [int(pk) for pk in item.get_attribute("data-shown-order").split(",")]
    return int(item.get_attribute("data-item-id")), order


def _wait_for_item_after(page: Any, item_id: int) -> None:
    page.wait_for_function(
        "id => { const el = document.querySelector('#item');"
        " return !el || el.dataset.itemId !== String(id); }",
        arg=item_id,
    )


def _drag(page: Any, label_index: int, slot_index: int) -> None:
    chip = page.locator(f".chip[data-response-id='{_shown(page)[1][label_index]}']")
    target = page.locator(".slot-drop").nth(slot_index)
    chip.drag_to(target)


def _current(user: User, item_id: int) -> Judgement:
    return Judgement.objects.get(annotator=user, item_id=item_id, is_current=True)


def _assert_clean(page: Any) -> None:
    assert page.watch.dialogs == []
    assert page.watch.errors == []


def test_annotator_ranks_by_mouse_and_keyboard_ties_and_skips(live_server: Any, page: Any) -> None:
    project = project_make(
        slug="rank", overlap=1, guidelines="Rank the **most helpful** answer first."
    )
    items_make(project=project, count=4, responses=3)
    ann = user_make("ann", project=project)
    base = live_server.url
    _log_in(page, base, "ann")
    page.click("text=Start annotating")

    # 1. Drag and drop: A first, B second, C third.
    item_id, order = _shown(page)
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=f"{SCREENSHOTS}/item-rank.png", full_page=True)
    for label_index, slot_index in [(0, 0), (1, 1), (2, 2)]:
        _drag(page, label_index, slot_index)
    assert page.locator(".pool-drop .chip").count() == 0
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/item-ranked.png", full_page=True)
    page.click("button.submit")
    _wait_for_item_after(page, item_id)
    assert _current(ann, item_id).ranking == [[order[0]], [order[1]], [order[2]]]
    assert _current(ann, item_id).shown_order == order

    # 2. Keyboard only: focus starts on A; each number ranks and moves to the next one.
    item_id, order = _shown(page)
    page.keyboard.press("3")  # A third
    page.keyboard.press("1")  # B first
    page.keyboard.press("2")  # C second
    page.keyboard.press("Enter")
    _wait_for_item_after(page, item_id)
    assert _current(ann, item_id).ranking == [[order[1]], [order[2]], [order[0]]]

    # 3. A tie by dropping two responses into the same slot, and one by the tie key.
    item_id, order = _shown(page)
    _drag(page, 1, 0)  # B into rank 1
    _drag(page, 2, 0)  # C into rank 1 too: a tie
    page.locator(".response").nth(0).focus()
    page.keyboard.press("2")  # A second
    assert page.locator(".slot.is-tie").count() == 1
    page.keyboard.press("Enter")
    _wait_for_item_after(page, item_id)
    tie = _current(ann, item_id).ranking
    assert [sorted(group) for group in tie] == [sorted([order[1], order[2]]), [order[0]]]

    # 4. Skip with a reason, from the keyboard; nothing is left afterwards.
    item_id, _order = _shown(page)
    page.keyboard.press("s")
    page.fill("#skip-reason", "needs domain knowledge")
    page.keyboard.press("Enter")
    page.wait_for_selector("#item-done")
    skip = Assignment.objects.get(annotator=ann, item_id=item_id)
    assert skip.status == Assignment.Status.SKIPPED
    assert skip.skip_reason == "needs domain knowledge"
    assert Judgement.objects.filter(annotator=ann).count() == 3
    page.goto(f"{base}/")
    assert "3 of 4 items complete" in page.locator("main").inner_text()
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/home.png", full_page=True)
    _assert_clean(page)


def test_project_admin_sees_the_dashboard_with_charts(live_server: Any, page: Any) -> None:
    project = project_make(slug="dash", overlap=2)
    items = items_make(project=project, count=5, responses=2)
    ann = user_make("ann", project=project)
    user_make("boss", project=project, role=Membership.Role.ADMIN)
    for item in items[:3]:
        judgement_submit(user=ann, item=item, ranking=[[pk] for pk in response_ids(item)])
    _log_in(page, live_server.url, "boss")
    page.goto(f"{live_server.url}/p/dash/dashboard/")
    text = page.locator("main").inner_text()
    assert "In progress" in text and "Leases live now" in text
    assert page.locator("svg rect.bar").count() >= 3
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/dashboard.png", full_page=True)
    _assert_clean(page)


def test_keyboard_tie_key_ties_with_the_response_ranked_last(live_server: Any, page: Any) -> None:
    project = project_make(slug="ties", overlap=1)
    items_make(project=project, count=1, responses=4)
    ann = user_make("ann", project=project)
    _log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/ties/")
    item_id, order = _shown(page)
    for key in ["1", "t", "2", "t"]:  # A=1, B ties A, C=2, D ties C
        page.keyboard.press(key)
    page.keyboard.press("Enter")
    page.wait_for_selector("#item-done")
    ranking = _current(ann, item_id).ranking
    assert [sorted(g) for g in ranking] == [sorted(order[:2]), sorted(order[2:])]
    _assert_clean(page)


def test_pairwise_verdict_with_a_required_rationale(live_server: Any, page: Any) -> None:
    project = project_make(
        slug="pairs",
        overlap=1,
        mode=Project.Mode.PAIRWISE,
        rationale=Project.Rationale.REQUIRED,
        ask_ratings=True,
        rating_scale=5,
    )
    items_make(project=project, count=2, responses=2)
    ann = user_make("ann", project=project)
    _log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/pairs/")
    item_id, order = _shown(page)
    page.keyboard.press("b")
    assert page.locator(".verdict[data-verdict=b]").get_attribute("aria-pressed") == "true"
    page.check(f"input[name='rating-{order[0]}'][value='2']", force=True)
    page.check(f"input[name='rating-{order[1]}'][value='5']", force=True)
    page.locator(".response").nth(0).focus()
    page.keyboard.press("Enter")
    # Blocked, visibly, until a rationale is written.
    error = page.locator(".form-errors")
    error.get_by_text("rationale", exact=False).wait_for()
    assert not Judgement.objects.exists()
    if SCREENSHOTS:
        page.screenshot(path=f"{SCREENSHOTS}/item-pairwise.png", full_page=True)
    page.fill(".rationale", "B answers the question; A rambles.")
    page.keyboard.press("Control+Enter")
    _wait_for_item_after(page, item_id)
    judgement = _current(ann, item_id)
    assert judgement.ranking == [[order[1]], [order[0]]] and not judgement.both_bad
    assert judgement.ratings == {str(order[0]): 2, str(order[1]): 5}
    assert judgement.rationale == "B answers the question; A rambles."

    # Both bad on the second item, with the X key.
    item_id, order = _shown(page)
    page.keyboard.press("x")
    for pk in order:
        page.check(f"input[name='rating-{pk}'][value='1']", force=True)
    page.fill(".rationale", "Both wrong.")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#item-done")
    judgement = _current(ann, item_id)
    assert judgement.both_bad and [sorted(g) for g in judgement.ranking] == [sorted(order)]
    _assert_clean(page)


def test_script_payloads_in_responses_show_as_text_and_run_nothing(
    live_server: Any, page: Any
) -> None:
    project = project_make(slug="xss", overlap=1)
    (item,) = items_make(project=project, count=1, responses=len(XSS_PAYLOADS))
    for response, payload in zip(item.responses.order_by("position"), XSS_PAYLOADS, strict=True):
        response.content = payload
        response.save(update_fields=["content"])
    item.messages = [{"role": "user", "content": "<img src=x onerror=alert('prompt')>"}]
    item.save(update_fields=["messages"])
    user_make("ann", project=project)
    _log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/xss/")
    page.wait_for_selector("#item")
    text = page.locator("#workspace").inner_text()
    assert "<img src=x onerror=alert(1)>" in text
    assert "<script>alert('xss')</script>" in text
    assert "[click me](javascript:alert(1))" in text
    assert "<img src=x onerror=alert('prompt')>" in text
    assert page.locator("#workspace img, #workspace svg, #workspace script").count() == 0
    assert page.locator("#workspace a[href^='javascript']").count() == 0
    page.wait_for_timeout(300)  # give any payload a chance to run
    _assert_clean(page)
