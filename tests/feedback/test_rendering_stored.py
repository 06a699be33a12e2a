"""Responses and prompts rendered once when stored, and the page using that rendering only while it
still matches the text and the rendering policy."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from config.celery import app
from feedback.models import Item, Response
from feedback.rendering import markdown_render_html, render_key
from feedback.services.imports import items_import
from feedback.services.rendering import items_render, messages_key, responses_render
from tests.factories import items_make, project_make, user_make
from tests.feedback.importing import jsonl_write

pytestmark = pytest.mark.django_db


def test_responses_are_rendered_once_and_a_second_run_finds_nothing() -> None:
    project = project_make()
    other = project_make(slug="other")
    items_make(project=project, count=3, responses=2, answer="**Answer** {r} to {n}.")
    items_make(project=other, count=1, responses=2)
    assert responses_render(project_id=project.pk, batch_size=4) == 6
    for response in Response.objects.filter(item__project=project):
        assert response.content_html == markdown_render_html(response.content)
        assert response.content_html_key == render_key(response.content)
        assert "<strong>Answer</strong>" in response.content_html
    assert not Response.objects.filter(item__project=other).exclude(content_html_key="").exists()
    assert responses_render(project_id=project.pk) == 0


def _item_html(project_slug: str, client: Client) -> str:
    body = client.get(reverse("next-item", args=[project_slug])).json()
    return str(body["html"])


def test_the_page_shows_the_stored_rendering_while_its_key_matches() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=2, answer="plain {r}")
    responses_render(project_id=project.pk)
    first = Response.objects.filter(item=item).order_by("pk").first()
    assert first is not None
    # A stored rendering with a valid key is what the page shows (no rendering again) ...
    Response.objects.filter(pk=first.pk).update(content_html="<p>as stored</p>")
    client = Client()
    client.force_login(user_make("ann", project=project))
    assert "<p>as stored</p>" in _item_html(project.slug, client)
    # ... and once the text changes (an admin's edit), the key no longer matches: the page
    # renders the new text instead of serving the stale HTML.
    Response.objects.filter(pk=first.pk).update(content="*edited*")
    html = _item_html(project.slug, client)
    assert "as stored" not in html and "<em>edited</em>" in html


def test_prompts_are_rendered_once_and_used_while_they_match() -> None:
    project = project_make(overlap=1)
    (item,) = items_make(project=project, count=1, responses=2, prompt="Is *this* {n}?")
    assert items_render(project_id=project.pk) == 1
    assert items_render(project_id=project.pk) == 0
    item.refresh_from_db()
    assert item.messages_html == [markdown_render_html("Is *this* 0?")]
    assert item.messages_html_key == messages_key(["Is *this* 0?"])
    Item.objects.filter(pk=item.pk).update(messages_html=["<p>stored prompt</p>"])
    client = Client()
    client.force_login(user_make("ann", project=project))
    assert "<p>stored prompt</p>" in _item_html(project.slug, client)
    # An edited conversation no longer matches its key: rendered afresh, not served stale.
    Item.objects.filter(pk=item.pk).update(messages=[{"role": "user", "content": "**new**"}])
    html = _item_html(project.slug, client)
    assert "stored prompt" not in html and "<strong>new</strong>" in html


@pytest.fixture
def eager_tasks() -> Iterator[None]:
    """Celery tasks run inline, in this test's transaction (the broker is not under test)."""
    app.conf.task_always_eager = True
    try:
        yield
    finally:
        app.conf.task_always_eager = False


def test_an_import_has_its_responses_rendered_after_it_commits(
    tmp_path: Path, eager_tasks: None, django_capture_on_commit_callbacks: Any
) -> None:
    project = project_make()
    rows = [{"prompt": f"Q{n}?", "responses": [f"**yes** {n}", f"no {n}"]} for n in range(3)]
    source = jsonl_write(tmp_path / "a.jsonl", rows)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        items_import(project=project, source=source, format="native")
    assert len(callbacks) == 1
    stored = list(Response.objects.values_list("content", "content_html", "content_html_key"))
    assert len(stored) == 6
    for content, html, key in stored:
        assert key == render_key(content) and html == markdown_render_html(content)
    for item in Item.objects.all():
        assert item.messages_html_key == messages_key([item.messages[0]["content"]])
