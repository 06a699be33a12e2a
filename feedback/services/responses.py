"""Candidates written by a model (a ``generate`` job): the one place that adds them.

Training's generate runner calls ``responses_generated_add``; feedback owns its rows.
"""

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Count

from feedback.models import Item, Project, Response
from feedback.services.rendering import responses_render
from feedback.services.rounds import candidates_arrived


def responses_generated_add(
    *,
    project: Project,
    items: Sequence[Item],
    texts: Sequence[Sequence[str]],
    model_name: str,
    metadata: Mapping[str, Any],
    guard: Callable[[], None] | None = None,
) -> dict[int, list[int]]:
    """Add the model's candidates ``texts[i]`` to ``items[i]``, each item up to
    project.responses_per_item, atomically; new candidates of an item already judged or
    held open a new round on it. ``guard()`` runs first in the same transaction (the
    caller's check that it may still write: it raises to write nothing). The new rows are
    rendered after the commit, so annotators' pages need not render them. Returns the
    new responses' ids by item id."""
    with transaction.atomic():
        if guard is not None:
            guard()
        ids = [item.pk for item in items]
        list(Item.objects.select_for_update().filter(pk__in=ids).values_list("pk", flat=True))
        have_by_item = dict(
            Response.objects.filter(item_id__in=ids)
            .order_by()
            .values_list("item_id")
            .annotate(n=Count("pk"))
            .values_list("item_id", "n")
        )
        rows = []
        for item, candidates in zip(items, texts, strict=True):
            have = have_by_item.get(item.pk, 0)
            last = (
                Response.objects.filter(item_id=item.pk)
                .order_by("-position")
                .values_list("position", flat=True)
                .first()
            )
            position = (last if last is not None else -1) + 1
            for text in candidates[: max(0, project.responses_per_item - have)]:
                rows.append(
                    Response(
                        item_id=item.pk,
                        position=position,
                        content=text.strip(),
                        source=Response.Source.MODEL,
                        model_name=model_name,
                        metadata=dict(metadata),
                    )
                )
                position += 1
        Response.objects.bulk_create(rows)
        new_responses: dict[int, list[int]] = {}
        for row in rows:
            new_responses.setdefault(row.item_id, []).append(row.pk)
        candidates_arrived(project=project, new_responses=new_responses)
    responses_render(response_ids=[row.pk for row in rows])
    return new_responses
