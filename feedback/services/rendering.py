"""Rendering responses and prompts once, when they are stored, instead of on every view.

Rendering Markdown (``feedback.rendering``) is the largest cost of showing an item, and
it grows with the length of the texts; model answers and conversations run to kilobytes
of code and prose. So they are rendered off the annotators' path: after an import
commits (a task on the ``default`` queue) and when a generation job stores new
candidates. The page uses a stored rendering only while its key matches the text and the
current policy (``feedback.rendering.render_key``), and renders through the shared cache
otherwise, so a text not rendered yet, edited in the admin, or stored under an older
policy is still shown right.
"""

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import Model, QuerySet

from feedback.models import Item, Response
from feedback.rendering import POLICY, markdown_render_html, render_key

logger = logging.getLogger(__name__)

M = TypeVar("M", bound=Model)

BATCH_SIZE = 500


def message_texts(messages: Any) -> list[str]:
    """The texts of an item's messages that the page shows, in order."""
    return [str(m.get("content", "")) for m in (messages or []) if isinstance(m, dict)]


def messages_key(texts: Sequence[str]) -> str:
    """The key of a rendering of all of an item's messages."""
    return render_key("\x1e".join(texts))  # a separator no message holds


def responses_render(
    *,
    project_id: int | None = None,
    response_ids: list[int] | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Render and store the responses of ``project_id`` (or those of ``response_ids``)
    that have no rendering under the current policy; return how many were rendered.

    Idempotent: a second run finds nothing to do. Each batch is its own UPDATE, so a run
    cut short keeps what it did."""
    pending = Response.objects.exclude(content_html_key__startswith=f"{POLICY}:")
    if project_id is not None:
        pending = pending.filter(item__project_id=project_id)
    if response_ids is not None:
        pending = pending.filter(pk__in=response_ids)

    def fill(response: Response) -> None:
        response.content_html = markdown_render_html(response.content)
        response.content_html_key = render_key(response.content)

    return _in_batches(pending, "content", fill, ["content_html", "content_html_key"], batch_size)


def items_render(
    *,
    project_id: int | None = None,
    item_ids: list[int] | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """``responses_render`` for the items' messages (the conversation shown above the
    responses); return how many items were rendered."""
    pending = Item.objects.exclude(messages_html_key__startswith=f"{POLICY}:")
    if project_id is not None:
        pending = pending.filter(project_id=project_id)
    if item_ids is not None:
        pending = pending.filter(pk__in=item_ids)

    def fill(item: Item) -> None:
        texts = message_texts(item.messages)
        item.messages_html = [markdown_render_html(text) for text in texts]
        item.messages_html_key = messages_key(texts)

    fields = ["messages_html", "messages_html_key"]
    return _in_batches(pending, "messages", fill, fields, batch_size)


def _in_batches(
    pending: QuerySet[M], source: str, fill: Callable[[M], None], fields: list[str], size: int
) -> int:
    """Fill ``fields`` of every row of ``pending`` from its ``source`` field, ``size`` rows
    to an UPDATE, in id order; return how many rows."""
    done, after = 0, 0
    while batch := list(pending.filter(pk__gt=after).order_by("pk").only(source)[:size]):
        for row in batch:
            fill(row)
        pending.model._default_manager.bulk_update(batch, fields)
        done, after = done + len(batch), batch[-1].pk
    return done


def project_render(*, project_id: int) -> tuple[int, int]:
    """Render whatever of the project is not rendered yet: (items, responses) rendered."""
    rendered = (items_render(project_id=project_id), responses_render(project_id=project_id))
    if any(rendered):
        logger.info("project %s: rendered %d items, %d responses", project_id, *rendered)
    return rendered


def project_render_enqueue(*, project_id: int) -> None:
    """Ask a worker to render ``project_id``'s new texts once the current transaction
    commits. A broker that cannot be reached costs only speed (the page renders what is
    not stored yet), so it is logged, not raised: the import it follows has succeeded."""
    # A service names a task only where it sends one; the task imports the service inside
    # its body (HackSoft's Celery guidance), so neither module loads the other.
    from feedback.tasks import project_render as task

    def send() -> None:
        try:
            task.delay(project_id)
        except Exception:  # the broker's errors vary by transport
            logger.warning("could not queue the rendering of project %s", project_id, exc_info=True)

    transaction.on_commit(send)
