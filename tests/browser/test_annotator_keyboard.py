"""An annotator's whole day from the keyboard, in a real browser: ranks and ratings with
hotkeys (counted: at most ranks + ratings + 1 key presses per item), Enter from any
non-text control, progress, the guidelines panel, a failed request that leaves nothing
stuck, and My judgements with rankings, confirmation and skipped items to reopen."""

from typing import Any

import pytest

from feedback.models import Assignment, Judgement, Project
from tests.browser.conftest import log_in
from tests.factories import items_make, project_make, user_make

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


class Keys:
    """Presses keys and counts them (a chord such as Shift+3 is one press)."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.count = 0

    def press(self, key: str) -> None:
        self.page.keyboard.press(key)
        self.count += 1


def _shown(page: Any) -> tuple[int, list[int]]:
    item = page.locator("#item")
    order = [int(pk) for pk in item.get_attribute("data-shown-order").split(",")]
    return int(item.get_attribute("data-item-id")), order


def _wait_after(page: Any, item_id: int) -> None:
    page.wait_for_function(
        "id => { const el = document.querySelector('#item');"
        " return !el || el.dataset.itemId !== String(id); }",
        arg=item_id,
    )


def test_annotator_ranks_and_rates_five_items_with_the_keyboard_alone(
    live_server: Any, page: Any
) -> None:
    project = project_make(
        slug="rated", overlap=1, ask_ratings=True, rating_scale=5, guidelines="Be **fair**."
    )
    items_make(project=project, count=5, responses=3)
    ann = user_make("ann", project=project)
    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/rated/")
    progress = page.locator("#progress")
    assert "Item 1 of 5" in progress.inner_text()
    assert "0 done today" in progress.inner_text()
    # The rating hotkeys are on every card; a required rating is marked before submit.
    assert page.locator(".rating-keys").first.inner_text().replace("\n", "") == "Shift+1…5"
    assert page.locator(".response.needs-rating").count() == 3

    budget = 0
    for n in range(5):
        item_id, order = _shown(page)
        keys = Keys(page)
        # Per response: its rank, then its rating; focus moves on once both are given.
        for rank, rating in [(2, 4), (1, 5), (3, 1)]:
            keys.press(str(rank))
            keys.press(f"Shift+Digit{rating}")
        assert page.locator(".response.needs-rating").count() == 0
        keys.press("Enter")
        _wait_after(page, item_id)
        budget = 3 + 3 + 1  # ranks + ratings + 1
        assert keys.count <= budget
        judgement = Judgement.objects.get(annotator=ann, item_id=item_id, is_current=True)
        assert judgement.ranking == [[order[1]], [order[0]], [order[2]]]
        assert judgement.ratings == {str(order[0]): 4, str(order[1]): 5, str(order[2]): 1}
        if n < 4:
            assert f"Item {n + 2} of 5" in progress.inner_text()
        assert f"{n + 1} done today" in progress.inner_text()
    page.wait_for_selector("#item-done")
    assert Judgement.objects.filter(annotator=ann).count() == 5
    assert page.watch.errors == [] and page.watch.dialogs == []


def test_a_missing_rating_is_said_and_the_message_goes_once_it_is_given(
    live_server: Any, page: Any
) -> None:
    project = project_make(slug="miss", overlap=1, ask_ratings=True, rating_scale=3)
    items_make(project=project, count=2, responses=2)
    ann = user_make("ann", project=project)
    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/miss/")
    item_id, order = _shown(page)
    page.keyboard.press("1")
    page.keyboard.press("Shift+Digit3")  # A: rank 1, rating 3; focus moves to B
    page.keyboard.press("2")  # B ranked, not rated
    page.keyboard.press("Enter")
    errors = page.locator(".form-errors")
    errors.get_by_text("Rate response B").wait_for()
    assert not Judgement.objects.filter(annotator=ann).exists()
    page.keyboard.press("Shift+Digit2")  # the fix clears the message at once
    page.wait_for_function("() => !document.querySelector('.form-errors').textContent")
    page.keyboard.press("Enter")
    _wait_after(page, item_id)
    assert Judgement.objects.get(annotator=ann, item_id=item_id).ratings == {
        str(order[0]): 3,
        str(order[1]): 2,
    }


def test_enter_on_the_guidelines_header_submits_and_the_panel_stays_open(
    live_server: Any, page: Any
) -> None:
    project = project_make(slug="guide", overlap=1, guidelines="Prefer **short** answers.")
    items_make(project=project, count=3, responses=2)
    ann = user_make("ann", project=project)
    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/guide/")
    page.keyboard.press("g")  # open the guidelines
    assert page.locator("#guidelines").get_attribute("open") is not None
    assert page.locator("#guidelines .md strong").inner_text() == "short"
    item_id, _order = _shown(page)
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.locator("#guidelines summary").focus()
    page.keyboard.press("Enter")  # one press: submits, does not fold the panel
    _wait_after(page, item_id)
    assert Judgement.objects.filter(annotator=ann, item_id=item_id).exists()
    assert page.locator("#guidelines").get_attribute("open") is not None
    # Still open after a reload: the person opened it.
    page.reload()
    page.wait_for_selector("#item")
    assert page.locator("#guidelines").get_attribute("open") is not None
    # Enter from the "cannot rank" checkbox submits too.
    item_id, _ = _shown(page)
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.locator(".flag summary").focus()
    page.keyboard.press("Enter")
    _wait_after(page, item_id)
    assert Judgement.objects.filter(annotator=ann).count() == 2
    assert page.watch.errors == []


def test_a_skip_that_fails_on_the_network_leaves_the_page_usable(
    live_server: Any, page: Any
) -> None:
    project = project_make(slug="net", overlap=1)
    items_make(project=project, count=2, responses=2)
    ann = user_make("ann", project=project)
    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/net/")
    item_id, _ = _shown(page)
    page.route("**/skip/**", lambda route: route.abort())
    page.keyboard.press("s")
    page.keyboard.press("Enter")  # the skip dialog's default: Skip item
    page.locator(".form-errors").get_by_text("not skipped").wait_for()
    assert page.locator("#item.is-busy").count() == 0
    assert not Assignment.objects.filter(status=Assignment.Status.SKIPPED).exists()
    # The connection is back: the same keys work, first the skip, then a judgement.
    page.unroute("**/skip/**")
    page.keyboard.press("s")
    page.keyboard.press("Enter")
    _wait_after(page, item_id)
    assert Assignment.objects.get(item_id=item_id, annotator=ann).status == "skipped"
    # A submit that fails on the network keeps what was chosen; Enter again saves it.
    item_id, order = _shown(page)
    page.route("**/judgement/**", lambda route: route.abort())
    page.keyboard.press("2")
    page.keyboard.press("1")
    page.keyboard.press("Enter")
    page.locator(".form-errors").get_by_text("not saved").wait_for()
    page.unroute("**/judgement/**")
    page.keyboard.press("Enter")
    page.wait_for_selector("#item-done")
    assert Judgement.objects.get(annotator=ann, item_id=item_id).ranking == [
        [order[1]],
        [order[0]],
    ]
    assert page.watch.dialogs == []


def test_my_judgements_shows_rankings_confirms_a_change_and_reopens_a_skip(
    live_server: Any, page: Any
) -> None:
    project = project_make(slug="mine", overlap=1)
    items_make(project=project, count=3, responses=3, prompt="Explain **item {n}**")
    ann = user_make("ann", project=project)
    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/mine/")
    first, _ = _shown(page)
    for key in ["2", "1", "3", "Enter"]:  # B > A > C
        page.keyboard.press(key)
    _wait_after(page, first)
    skipped, _ = _shown(page)
    page.keyboard.press("s")
    page.fill("#skip-reason", "unsure")
    page.keyboard.press("Enter")
    _wait_after(page, skipped)

    page.goto(f"{live_server.url}/p/mine/judgements/")
    row = page.locator(f"#judgement-list tr[data-item='{first}']")
    assert row.locator(".ranking").inner_text() == "B > A > C"
    assert row.locator(".prompt-cell strong").inner_text().startswith("item")  # rendered
    # Change it: back on the list with a confirmation and the new ranking.
    row.get_by_role("link", name="Change").click()
    page.wait_for_selector("#item")
    page.locator(".response").nth(2).focus()
    page.keyboard.press("1")  # C first
    page.locator(".response").nth(1).focus()
    page.keyboard.press("2")
    page.locator(".response").nth(0).focus()
    page.keyboard.press("3")
    page.keyboard.press("Enter")
    page.wait_for_selector("#changed-note")
    assert page.locator(f"tr[data-item='{first}'] .ranking").inner_text() == "C > B > A"
    assert "v2" in page.locator(f"tr[data-item='{first}']").inner_text()

    # The skipped item is listed with its reason, and can be reopened.
    skip_row = page.locator(f"#skipped-list tr[data-item='{skipped}']")
    assert "unsure" in skip_row.inner_text()
    skip_row.get_by_role("button", name="Reopen").click()
    page.wait_for_selector("#item")
    assert _shown(page)[0] == skipped
    assert Assignment.objects.get(item_id=skipped, annotator=ann).status == "active"
    assert page.watch.errors == []


def test_pairwise_wording_and_an_empty_project(live_server: Any, page: Any) -> None:
    pairs = project_make(slug="pw", overlap=1, mode=Project.Mode.PAIRWISE)
    items_make(project=pairs, count=1, responses=2)
    empty = project_make(slug="nothing", overlap=1)
    ann = user_make("ann", project=pairs)
    empty.memberships.create(user=ann, role="annotator")
    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/pw/")
    assert page.locator(".flag summary").inner_text() == "Cannot judge this item?"
    assert "cannot rank" not in page.locator("#item").inner_text().lower()
    page.goto(f"{live_server.url}/p/nothing/")
    assert "This project is empty" in page.locator("#item-done").inner_text()
