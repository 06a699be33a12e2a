"""A flagged annotator in a real browser: they finish the item they hold, and the page then
says, in words, that the project paused them; a fresh visit says it too."""

from typing import Any

import pytest

from feedback.models import Judgement
from feedback.services.assignments import assignment_next
from feedback.services.judgements import judgement_submit
from tests.browser.conftest import log_in
from tests.factories import items_make, project_make, response_ids, user_make
from tests.feedback.gold.test_gold_serving import gold_make

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_a_stopped_annotator_finishes_their_item_then_reads_why_they_are_paused(
    live_server: Any, page: Any
) -> None:
    project = project_make(
        slug="strict", overlap=1, gold_rate=0.0, gold_threshold=0.9, gold_stop=True
    )
    items_make(project=project, count=3, responses=2)
    ann = user_make("ann", project=project)
    held = assignment_next(project=project, user=ann)  # taken before the checks went wrong
    assert held is not None and not held.item.is_gold
    for item in gold_make(project, 3):
        wrong = [[pk] for pk in reversed(response_ids(item))]
        judgement_submit(user=ann, item=item, ranking=wrong)

    log_in(page, live_server.url, "ann")
    page.goto(f"{live_server.url}/p/strict/")
    assert page.locator("#item").get_attribute("data-item-id") == str(held.item_id)
    page.keyboard.press("1")
    page.keyboard.press("2")
    page.keyboard.press("Enter")
    page.wait_for_selector("#item-done")
    text = page.locator("#workspace").inner_text()
    assert "You are paused on this project" in text and "score -1.00" in text
    assert "threshold of 0.90" in text
    assert Judgement.objects.filter(annotator=ann, item_id=held.item_id).exists()

    page.goto(f"{live_server.url}/p/strict/")
    assert "You are paused on this project" in page.locator("#workspace").inner_text()
    assert page.watch.errors == [] and page.watch.dialogs == []
