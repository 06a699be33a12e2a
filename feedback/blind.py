"""What an annotator may see of an item: the conversation and the responses' texts, in the
order shuffled for them, with nothing that tells which model (or which position of the
import) a response came from. The pages and the API both show items through this.

- ``shown_order_for``: the responses in the order this annotator sees them.
- ``sees_everything``: whether a role sees model names, sources, positions and metadata
  (admins, exporters, staff) or only what the page shows (annotators).
"""

import random
from collections.abc import Iterable
from typing import TypeVar

from django.contrib.auth.models import AbstractBaseUser

from feedback.models import Item, Membership, Project

T = TypeVar("T")


def shown_order_for(
    *, user: AbstractBaseUser, item: Item, response_ids: list[int], round: int = 1
) -> list[int]:
    """The responses in the order this annotator sees them: shuffled with a seed of
    (annotator, item, round), so a reload or a reopen shows the same order. Pairwise
    projects show the first two."""
    order = sorted(response_ids)
    seed = f"{user.pk}:{item.pk}" if round == 1 else f"{user.pk}:{item.pk}:{round}"
    random.Random(seed).shuffle(order)
    if item.project.mode == Project.Mode.PAIRWISE:
        return order[:2]
    return order


def sees_everything(role: str) -> bool:
    """Annotators are blind; every other role (admin, exporter, staff) sees it all."""
    return role != Membership.Role.ANNOTATOR


def shown_responses(*, user: AbstractBaseUser, item: Item, responses: Iterable[T]) -> list[T]:
    """``responses`` (objects with an ``id``) in this annotator's shown order, limited to
    the ones shown."""
    by_id = {getattr(r, "id"): r for r in responses}  # noqa: B009
    return [by_id[i] for i in shown_order_for(user=user, item=item, response_ids=list(by_id))]
