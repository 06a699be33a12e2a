"""The review queue in a real browser: an admin opens it from the project bar, reads an
item whose annotators disagree, rejects the odd judgement from the keyboard and sees the
item leave the open queue, its judgement struck through in the full one."""

from typing import Any

import pytest

from feedback.models import Item, Judgement, Membership, ReviewAction
from feedback.services.judgements import judgement_submit
from tests.browser.conftest import log_in
from tests.factories import items_make, project_make, response_ids, user_make

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def test_admin_rejects_a_judgement_from_the_review_page(live_server: Any, page: Any) -> None:
    project = project_make(slug="rev", overlap=3)
    items = items_make(project=project, count=4, responses=3)
    annotators = [user_make(f"ann{n}", project=project) for n in range(3)]
    user_make("boss", project=project, role=Membership.Role.ADMIN)
    for item in items:
        ids = response_ids(item)
        for n, user in enumerate(annotators):
            is_odd = item == items[3] and n == 2
            ranking = [[r] for r in (ids[::-1] if is_odd else ids)]
            judgement_submit(
                user=user, item=item, ranking=ranking, rationale="odd one" if is_odd else ""
            )
    rejected = Judgement.objects.get(item=items[3], annotator=annotators[2])

    base = live_server.url
    log_in(page, base, "boss")
    page.goto(f"{base}/p/rev/dashboard/")
    page.locator(".projectbar").get_by_role("link", name="Review", exact=True).click()
    page.wait_for_url(f"{base}/p/rev/review/")
    card = page.locator(f"#item-{items[3].pk}")
    assert "Low agreement" in card.inner_text()
    row = page.locator(f"#judgement-{rejected.pk}")
    assert "odd one" in row.inner_text()
    assert page.locator(".review-item").count() == 1

    # From the keyboard: the note, then Tab to Reject (past Accept) and Enter.
    row.get_by_label("Note on the judgement of ann2").focus()
    page.keyboard.type("reversed every response")
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.value") == "reject"
    page.keyboard.press("Enter")
    page.wait_for_selector(".messages li.message-success")
    assert "back in the queue" in page.locator(".messages").inner_text()
    assert page.locator("#review-empty").is_visible()

    page.select_option("#filter-state", "all")
    page.get_by_role("button", name="Filter").click()
    page.wait_for_selector(f"#judgement-{rejected.pk}.review-rejected")
    history = page.locator(f"#judgement-{rejected.pk} .review-history").inner_text()
    assert "rejected by boss" in history and "reversed every response" in history
    assert page.watch.errors == [] and page.watch.dialogs == []

    action = ReviewAction.objects.get(judgement=rejected)
    assert action.action == "reject" and action.reviewer.username == "boss"
    assert Item.objects.get(pk=items[3].pk).judgement_count == 2
