"""Rendering responses once, when they are stored, instead of on every view.

Rendering Markdown (``feedback.rendering``) is the largest cost of showing an item, and
it grows with the length of the answers; model answers run to kilobytes of code and
prose. So responses are rendered off the annotators' path: after an import commits (a
task on the ``default`` queue) and when a generation job stores new candidates. The
page uses a stored rendering only while its key matches the text and the current policy
(``feedback.rendering.render_key``), and renders through the shared cache otherwise, so
a response not rendered yet, edited in the admin, or stored under an older policy is
still shown right.
"""

import logging

from django.db import transaction
from django.db.models import Q

from feedback.models import Response
from feedback.rendering import POLICY, markdown_render_html, render_key

logger = logging.getLogger(__name__)

BATCH_SIZE = 500


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
    done, after = 0, 0
    while True:
        batch = list(
            pending.filter(Q(pk__gt=after)).order_by("pk").only("pk", "content")[:batch_size]
        )
        if not batch:
            break
        for response in batch:
            response.content_html = markdown_render_html(response.content)
            response.content_html_key = render_key(response.content)
        Response.objects.bulk_update(batch, ["content_html", "content_html_key"])
        done += len(batch)
        after = batch[-1].pk
    if done:
        logger.info("rendered %d responses (project %s)", done, project_id)
    return done


def responses_render_enqueue(*, project_id: int) -> None:
    """Ask a worker to render ``project_id``'s new responses once the current transaction
    commits. A broker that cannot be reached costs only speed (the page renders what is
    not stored yet), so it is logged, not raised: the import it follows has succeeded."""
    from feedback.tasks import responses_render as task

    def send() -> None:
        try:
            task.delay(project_id)
        except Exception:  # the broker's errors vary by transport
            logger.warning("could not queue the rendering of project %s", project_id, exc_info=True)

    transaction.on_commit(send)
